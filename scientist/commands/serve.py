"""`scientist serve`: the approvals web page (loopback by default; a token is required anywhere else)."""

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
                                              help="Access token (generated when bound beyond loopback)")] = None,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")] = None,
    db: DbOption = None,
) -> None:
    """Serve a page listing runs and pending approvals, with approve/reject buttons and live progress."""
    import uvicorn

    from scientist.config import load_settings
    from scientist.web.app import create_app
    from scientist.web.security import is_loopback

    folder = Path(load_settings(runs_dir=runs_dir).runs_dir)
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"serving runs in {folder.resolve()} at {url}", soft_wrap=True, highlight=False)
    uvicorn.run(create_app(folder, token=token, db=db), host=host, port=port, log_level="warning")
