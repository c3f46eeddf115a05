"""Atomic file writes: the one way scientist replaces a file that another process (a resume, the web page, a study
worker) may be reading, or that a kill -9 may interrupt.

Why one function: the pattern (write a temporary sibling, then rename over the target) was copied a dozen times,
half of them with a fixed temporary name (`x.tmp`) that two writers of the same file would share. Here the
temporary name carries the process and thread, the folder is created, and `fsync` is there for files whose loss
after a power cut would lose finished work (verdicts, results).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes, *, fsync: bool = False) -> Path:
    """Replace `path` with `data` in one step (readers see the old file or the new one, never half of either)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str, *, fsync: bool = False) -> Path:
    """`write_bytes_atomic` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"), fsync=fsync)
