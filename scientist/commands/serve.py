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
    from scientist.config import load_settings

    folder = Path(load_settings(runs_dir=runs_dir).runs_dir)
    _serve(folder, host, port, token, allow_host, db, "/")


def _url(host: str, port: int, path: str, token: str) -> str:
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{port}{path}?token={token}"


def _serve(
    folder: Path, host: str, port: int, token: str | None, allow_host: list[str] | None, db: str | None, path: str
) -> None:
    import uvicorn

    from scientist.web.app import create_app
    from scientist.web.security import default_hosts

    if token is None:  # loopback too: any web page the operator visits can reach 127.0.0.1
        token = secrets.token_urlsafe(24)
    hosts = [*default_hosts(host), *(name.lower() for name in allow_host or [])]
    url = _url(host, port, path, token)
    console.print(f"serving runs in {folder.resolve()} at {url}", soft_wrap=True, highlight=False)
    uvicorn.run(
        create_app(folder, token=token, db=db, allowed_hosts=hosts), host=host, port=port, log_level="warning"
    )


def _answers(url: str) -> bool:
    """A scientist page already serves `url` (its token accepted)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _open_browser(url: str) -> None:
    """Open `url` in the desktop's browser; on a machine without a display, only print it (a console browser
    would take over the terminal)."""
    import os
    import sys
    import webbrowser

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return
    webbrowser.open(url)


@app.command()
def view(
    run_id: Annotated[str, typer.Argument(help="Run id (or its folder)")],
    host: Annotated[str, typer.Option("--host", help="Address of the page")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8765,
    token: Annotated[str | None, typer.Option("--token", envvar="SCIENTIST_SERVE_TOKEN",
                                              help="The page's token (reuses a page started with it)")] = None,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the run page in a browser")] = True,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")] = None,
    db: DbOption = None,
) -> None:
    """Open a run's page: on the page already served at --host/--port with this token, or a new one (printed)."""
    from urllib.parse import quote

    from scientist.config import load_settings
    from scientist.runs import load_run

    folder = Path(load_settings(runs_dir=runs_dir).runs_dir)
    info, run_dir = load_run(folder, run_id)
    if run_dir.resolve().parent != folder.resolve():  # a run folder given by path: serve the folder holding it
        folder = run_dir.resolve().parent
    path = f"/runs/{quote(info.id)}"
    if token is not None and _answers(_url(host, port, "/api/status", token)):
        url = _url(host, port, path, token)
        console.print(f"run page: {url}", soft_wrap=True, highlight=False)
        if open_browser:
            _open_browser(url)
        return
    token = token or secrets.token_urlsafe(24)
    if open_browser:
        import threading

        threading.Timer(1.0, _open_browser, args=(_url(host, port, path, token),)).start()
    _serve(folder, host, port, token, None, db, path)
