"""`scientist serve`: the approvals web page (loopback by default; a token and a known Host name always required)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scientist.commands.store import DbOption

app = typer.Typer()
console = Console()


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind (beyond loopback a token is required)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8765,
    token: Annotated[str | None, typer.Option("--token", envvar="SCIENTIST_SERVE_TOKEN",
                                              help="Access token (default: a fresh random one)")] = None,
    allow_host: Annotated[list[str] | None, typer.Option("--allow-host", help="Extra Host name the page answers to (a"
                                                        " proxy's or a DNS name); others get 403")] = None,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")] = None,
    db: DbOption = None,
) -> None:
    """Serve a page listing runs and pending approvals, with approve/reject buttons and live progress."""
    import uvicorn

    from scientist.config import load_settings
    from scientist.web.app import create_app
    from scientist.web.security import default_hosts

    folder = Path(load_settings(runs_dir=runs_dir).runs_dir)
    if token is None:  # loopback too: any web page the operator visits can reach 127.0.0.1
        token = secrets.token_urlsafe(24)
    hosts = [*default_hosts(host), *(name.lower() for name in allow_host or [])]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"serving runs in {folder.resolve()} at {url}", soft_wrap=True, highlight=False)
    uvicorn.run(
        create_app(folder, token=token, db=db, allowed_hosts=hosts), host=host, port=port, log_level="warning"
    )
