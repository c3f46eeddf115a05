"""Reports every attempt by sandboxed Python to change a protected file, even one the script catches and hides.

The read-only mounts stop the write; this makes the *attempt* visible. `prepare_workspace` copies this file into
the workspace as `.sandbox/trace/sitecustomize.py` (inside the read-only `.sandbox` mount of the isolated
backends) and the sandbox puts that folder on PYTHONPATH, so Python imports it at start-up, before any experiment
code runs. It installs an audit hook (PEP 578: it cannot be removed once added) that writes one line,
`scientist-protected: <event> <path>`, to a private duplicate of stderr for each distinct attempt to open for
writing, rename, remove, chmod, truncate or link a protected path, or to move or delete a folder holding one. The
dynamic monitor turns those lines into critical `protected_files/write_attempt` events.

It is evidence, not the barrier: code that starts Python with -I or -S, or changes files from a shell, is not
traced (the mounts still refuse it, and the shell's own "Read-only file system" message is scanned instead).
Runs inside the sandbox image's Python: standard library only, and it must never break the run it watches.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

PREFIX = "scientist-protected:"
MANIFEST = os.path.join(".sandbox", "protected.json")
# Audit events that change a path (the ones whose first arguments are paths), and those that also reach what is
# inside a folder: moving or deleting `src/` takes the protected `src/evaluate.py` with it.
CHANGES = {
    "open",
    "os.rename",
    "os.remove",
    "os.rmdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.utime",
    "os.link",
    "os.symlink",
    "os.mkdir",
    "shutil.copyfile",
    "shutil.copytree",
    "shutil.rmtree",
    "shutil.move",
}
TAKES_CONTENTS = {"os.rename", "os.rmdir", "shutil.rmtree", "shutil.move"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def protected_paths(root: str) -> list[str]:
    """Absolute real paths of the protected entries (files or folders) and of `.sandbox` itself."""
    with open(os.path.join(root, MANIFEST), encoding="utf-8") as handle:
        manifest = json.load(handle)
    entries = manifest.get("entries") or sorted(manifest.get("files", {}))
    return [os.path.realpath(os.path.join(root, entry)) for entry in [*entries, ".sandbox"]]


def _is_write_open(args: tuple[Any, ...]) -> bool:
    mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
    flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
    return any(ch in mode for ch in "wax+") or bool(flags & _WRITE_FLAGS)


def touched(event: str, args: tuple[Any, ...], protected: list[str], root: str) -> str | None:
    """The workspace-relative protected path this audit event tries to change, or None."""
    if event == "open" and not _is_write_open(args):
        return None
    for arg in args[:2]:
        if not isinstance(arg, str | bytes | os.PathLike):
            continue
        path = os.path.realpath(os.fsdecode(arg))
        for target in protected:
            inside = path == target or path.startswith(target + os.sep)
            holds = event in TAKES_CONTENTS and target.startswith(path + os.sep)
            if inside or holds:
                return os.path.relpath(path, root)
    return None


def install(root: str) -> None:
    protected = protected_paths(root)
    out = os.dup(2)  # the script may close or redirect fd 2; the trace keeps its own copy
    seen: set[str] = set()
    busy = False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        nonlocal busy
        if busy or event not in CHANGES:
            return
        busy = True
        try:
            rel = touched(event, args, protected, root)
            line = f"{PREFIX} {event} {rel}\n" if rel is not None else ""
            if line and line not in seen:
                seen.add(line)
                # Always on a line of its own: a script that leaves half a line on stderr first (or writes one
                # byte at a time around the attempt) cannot glue the trace onto its own text and hide it.
                os.write(out, ("\n" + line).encode())
        except Exception:  # the trace must never break the experiment it watches
            pass
        finally:
            busy = False

    sys.addaudithook(hook)


if __name__ == "sitecustomize":  # imported by Python at start-up inside the sandbox
    with contextlib.suppress(Exception):  # no manifest (not a prepared workspace): nothing to watch
        install(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
