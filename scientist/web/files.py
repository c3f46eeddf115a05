"""Serve a file from the runs folder to the web page (papers, reviews) without letting a request out of it.

The requested path is resolved (symlinks followed) and must stay inside the resolved runs folder; hidden names are
refused. Agent-produced files are untrusted, so only inert types keep their media type (PDF, PNG, JPEG, JSON) and
everything else is plain text; every reply carries `nosniff` and a sandboxing CSP, so even a served HTML or SVG
file cannot run script with the page's origin (which could read the CSRF token and approve runs).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from starlette.responses import FileResponse, PlainTextResponse, Response

INERT_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json"}
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}


def resolve_inside(runs_dir: Path, relative: str) -> Path | None:
    """The file `relative` names inside `runs_dir`, or None (outside, hidden, missing, not a regular file)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or "\\" in relative or "\x00" in relative:
        return None
    if any(part in ("..", ".") or part.startswith(".") for part in parts):
        return None
    root = runs_dir.resolve()
    try:
        target = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def link_for(runs_dir: Path, path: Path) -> str | None:
    """The app's URL for `path`, or None when it is not inside the runs folder."""
    from urllib.parse import quote

    try:
        relative = path.resolve().relative_to(runs_dir.resolve())
    except (OSError, ValueError):
        return None
    return "/files/" + quote(relative.as_posix())


def file_response(runs_dir: Path, relative: str) -> Response:
    target = resolve_inside(runs_dir, relative)
    if target is None:
        return PlainTextResponse("no such file in the runs folder", status_code=404, headers=SAFE_HEADERS)
    media = INERT_TYPES.get(target.suffix.lower(), "text/plain; charset=utf-8")
    return FileResponse(target, media_type=media, headers=SAFE_HEADERS)
