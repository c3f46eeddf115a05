"""Reading one run folder for the web page, as hostile input.

A run folder holds what a model and the agent's code wrote: HTML/JS in titles, ANSI sequences in logs, symlinks to
/etc/passwd, FIFOs named like result files, logs of any size. So every read here goes through the sandbox's
bounded reader (no symlink followed on any path component, only regular files opened, non-blocking, size- and
depth-capped JSON), every string comes back with control sequences removed (`scientist.display.clean`), and long
text is read a page at a time. HTML escaping is the templates' job (autoescape).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path, PurePosixPath
from typing import Any, Generic, TypeVar

from scientist.display import clean
from scientist.runs import RunFolder
from scientist.sandbox import reader
from scientist.sandbox.reader import ReadLimits, RunOutputError

_MIB = 1024 * 1024
JSON_LIMITS = ReadLimits(max_json_bytes=8 * _MIB)
PAGE_BYTES = 64 * 1024  # one page of a log or a blob
PREVIEW_BYTES = 4 * 1024  # a blob shown inline in the timeline
MAX_AUDIT_BYTES = 64 * _MIB  # an audit log beyond this is not parsed by the page (`scientist audit verify` reads it)
MAX_NAMES = 2_000  # entries listed from one folder of the run
_SAFE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def cleaned(value: Any) -> Any:
    """`value` with control sequences removed from every string and key (JSON-shaped data)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(key): cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cleaned(item) for item in value]
    return value


def safe_relative(relative: str) -> str | None:
    """`relative` when it is a plain path inside a run folder (no '..', no hidden or odd names), else None."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or len(parts) > 16:
        return None
    if not all(_SAFE_PART.fullmatch(part) for part in parts):
        return None
    return "/".join(parts)


def read_json(run_dir: Path, relative: str) -> Any | None:
    """The JSON file `relative` of the run, cleaned; None when it is absent, not a regular file or too big."""
    try:
        return cleaned(reader.read_json(run_dir, relative, JSON_LIMITS))
    except (RunOutputError, OSError):
        return None


def read_record(run_dir: Path, relative: str) -> tuple[Any | None, str | None]:
    """The JSON file `relative` of the run, cleaned, as (value, None); (None, None) when the run has no such file;
    (None, the problem) when it is there but cannot be read (a symlink, a FIFO, too big, not JSON), so the page can
    name a damaged record instead of leaving it out as if it had never been written."""
    try:
        return cleaned(reader.read_json(run_dir, relative, JSON_LIMITS)), None
    except RunOutputError as err:
        if isinstance(err.__cause__, FileNotFoundError):
            return None, None
        return None, clean(err.message)
    except OSError as err:  # the run folder itself went away or is unreadable
        return None, clean(f"{relative}: {err.strerror or err}")


def read_text(run_dir: Path, relative: str, max_bytes: int = PAGE_BYTES) -> str | None:
    """The first `max_bytes` of a text file of the run, cleaned; None when there is no such regular file."""
    page = read_page(run_dir, relative, 0, max_bytes)
    return None if page is None else page.text


class Page:
    """One page of a file: its text (cleaned) and where it sits in the file."""

    def __init__(self, text: str, offset: int, size: int, length: int) -> None:
        self.text = text
        self.offset = offset
        self.size = size
        self.end = offset + length

    @property
    def previous(self) -> int | None:
        return None if self.offset <= 0 else max(0, self.offset - PAGE_BYTES)

    @property
    def next(self) -> int | None:
        return self.end if self.end < self.size else None

    @property
    def last(self) -> int:
        return max(0, (self.size - 1) // PAGE_BYTES * PAGE_BYTES)


def read_page(run_dir: Path, relative: str, offset: int, max_bytes: int = PAGE_BYTES) -> Page | None:
    """Bytes [offset, offset + max_bytes) of a regular file of the run (never the whole file), cleaned."""
    try:
        found = reader.read_range(run_dir, relative, offset, max_bytes)
    except (RunOutputError, OSError):
        return None
    if found is None:
        return None
    data, size = found
    return Page(clean(data.decode("utf-8", errors="replace")), max(0, offset), size, len(data))


def list_names(run_dir: Path, relative: str) -> list[str]:
    """The names in folder `relative` of the run (no link followed to reach it), sorted; [] when unreadable."""
    try:
        with reader.open_dir(run_dir, relative) as fd:
            names = os.listdir(fd)
    except (RunOutputError, OSError):
        return []
    return sorted(name for name in names if _SAFE_PART.fullmatch(name))[:MAX_NAMES]


def is_regular_file(run_dir: Path, relative: str) -> bool:
    """`relative` is a regular file reached without following a link (a FIFO or a symlink is not)."""
    return read_page(run_dir, relative, 0, 0) is not None


def read_audit_bytes(run_dir: Path) -> bytes | None:
    """The audit log's bytes (None when absent, not a regular file, or over MAX_AUDIT_BYTES)."""
    try:
        return reader.read_bytes(run_dir, RunFolder.AUDIT_LOG, max_bytes=MAX_AUDIT_BYTES)
    except (RunOutputError, OSError):
        return None


Stamp = tuple[int, int, int, int] | None
T = TypeVar("T")


def stamp(run_dir: Path, relative: str) -> Stamp:
    """(inode, size, mtime, ctime) of a name in the run, the link itself if it is one; None when absent. The ctime
    moves on any write or chmod and cannot be set back by the writer, so a result keyed on stamps is never stale."""
    try:
        info = os.lstat(run_dir / relative)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class StampCache(Generic[T]):
    """The last few results of an expensive read of a run (parsing a long audit log, verifying its chain), keyed on
    the stamps of the files it read: a page reloaded or polled while nothing changed costs nothing again."""

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value
