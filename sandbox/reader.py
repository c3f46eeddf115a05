"""The one bounded reader for everything a run leaves behind (issue 21).

The experiment code is the attacker here: it controls every byte, name, link and inode in its workspace, and the
harness reads them afterwards *on the host*. So nothing in this module trusts the tree it reads:

- walks are iterative (no recursion limit to hit) and go through directory file descriptors (`openat`-style),
  so depth does not matter to the kernel either (no ENAMETOOLONG), and they stop at a depth and an entry budget;
- nothing follows a symlink (`O_NOFOLLOW` on every path component, `lstat` semantics in walks);
- only regular files are opened, with `O_NONBLOCK` so a FIFO named `final_info.json` cannot block the harness;
- every read is size-capped, and JSON is parsed with a nesting depth and an integer-digits limit;
- whatever breaks a budget raises `RunOutputError` (a `SandboxError`): the pipeline records the run as failed,
  the harness keeps going.

`settle_workspace` is the clean-up after each run (escaping links, special files, setuid bits, world-writable
folders, trees past the depth or entry budget) and `remove_tree` the only way a run's folder is deleted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from scientist.errors import SandboxError

_MIB = 1024 * 1024
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class RunOutputError(SandboxError):
    """What a run left cannot be read safely (too big, too deep, not a regular file, malformed): the run fails,
    the harness does not."""


@dataclass(frozen=True)
class ReadLimits:
    """Budgets for reading one run's outputs; generous for honest templates, small next to the host's memory."""

    max_file_bytes: int = 16 * _MIB  # one file read into memory (logs are read as tails instead)
    max_json_bytes: int = 4 * _MIB
    max_json_depth: int = 64
    max_int_digits: int = 64
    max_depth: int = 32  # folder levels below the workspace
    max_entries: int = 50_000  # names (files, folders, links, ...) in one workspace


DEFAULT_LIMITS = ReadLimits()


@dataclass(frozen=True)
class Entry:
    """One name in a walked tree, as lstat saw it (`rel` is workspace-relative, posix style, surrogate-escaped)."""

    rel: str
    mode: int
    size: int
    disk_bytes: int  # du-style: blocks actually used (a folder costs its block even when empty)
    mtime_ns: int
    depth: int


@dataclass
class Tree:
    """A walk's result: the entries it saw, and why it stopped early (None when it saw everything)."""

    entries: list[Entry] = field(default_factory=list)
    over_budget: str | None = None

    @property
    def disk_bytes(self) -> int:
        return sum(entry.disk_bytes for entry in self.entries)


def _parts(rel: str | PurePosixPath) -> list[str]:
    path = PurePosixPath(str(rel).replace(os.sep, "/"))
    if path.is_absolute() or ".." in path.parts:
        raise RunOutputError(f"{rel} is not a path inside the run folder", hint="this is a harness bug; report it")
    return [part for part in path.parts if part not in ("", ".")]


@contextlib.contextmanager
def open_dir(root: Path, rel: str | PurePosixPath = "") -> Iterator[int]:
    """A descriptor for folder `root/rel`, opened component by component without following any symlink."""
    fd = os.open(root, DIR_FLAGS)
    try:
        for part in _parts(rel):
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                raise RunOutputError(f"{rel}: {_why(err)}", hint="the run left no readable folder there") from err
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _why(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "is a symlink (never followed)"
    if err.errno == errno.ENOTDIR:
        return "a path component is not a folder (or is a symlink, never followed)"
    return os.strerror(err.errno or 0).lower()


def read_bytes(
    root: Path, rel: str | PurePosixPath, limits: ReadLimits = DEFAULT_LIMITS, max_bytes: int | None = None
) -> bytes:
    """The whole content of regular file `root/rel`, at most `max_bytes` (default `limits.max_file_bytes`)."""
    cap = limits.max_file_bytes if max_bytes is None else max_bytes
    parts = _parts(rel)
    if not parts:
        raise RunOutputError(f"{rel!s} names no file", hint="this is a harness bug; report it")
    with open_dir(root, PurePosixPath(*parts[:-1]) if len(parts) > 1 else "") as dir_fd:
        try:
            fd = os.open(parts[-1], FILE_FLAGS, dir_fd=dir_fd)
        except OSError as err:
            raise RunOutputError(f"{rel}: {_why(err)}", hint="the run must write a regular file there") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunOutputError(f"{rel} is not a regular file", hint="the run must write a regular file there")
        if info.st_size > cap:
            raise RunOutputError(f"{rel} is {info.st_size} bytes, over the {cap}-byte read limit", hint="write less")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while total <= cap and (chunk := os.read(fd, min(1 << 20, cap + 1 - total))):
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:  # it grew after fstat
            raise RunOutputError(f"{rel} is over the {cap}-byte read limit", hint="write less")
        return b"".join(chunks)
    finally:
        os.close(fd)


def display_name(rel: str) -> str:
    """A name as the run wrote it, made printable and JSON-safe: bytes that are not UTF-8 are backslash-escaped."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def hash_file(root: Path, rel: str | PurePosixPath) -> tuple[int, str]:
    """(size, sha256) of regular file `root/rel`, streamed (no size cap: the output cap bounds it)."""
    parts = _parts(rel)
    with open_dir(root, PurePosixPath(*parts[:-1]) if len(parts) > 1 else "") as dir_fd:
        try:
            fd = os.open(parts[-1], FILE_FLAGS, dir_fd=dir_fd)
        except OSError as err:
            raise RunOutputError(f"{rel}: {_why(err)}") from err
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunOutputError(f"{rel} is not a regular file")
        os.set_blocking(fd, True)
        digest, size = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()
    finally:
        os.close(fd)


def parse_json(data: bytes, what: str, limits: ReadLimits = DEFAULT_LIMITS) -> Any:
    """JSON with a size, nesting-depth and integer-digits limit (hostile JSON fails cleanly, never recursively)."""
    if len(data) > limits.max_json_bytes:
        raise RunOutputError(f"{what} is {len(data)} bytes, over the {limits.max_json_bytes}-byte JSON limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunOutputError(f"{what} is not UTF-8: {err.reason} at byte {err.start}", hint="write UTF-8 JSON") from err
    depth = _nesting(text)
    if depth > limits.max_json_depth:
        raise RunOutputError(f"{what} nests {depth} levels, over the limit of {limits.max_json_depth}")

    def bounded_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_int_digits:
            raise RunOutputError(f"{what} has an integer of {len(digits)} digits (limit {limits.max_int_digits})")
        return int(digits)

    try:
        return json.loads(text, parse_int=bounded_int)
    except RunOutputError:
        raise
    except (ValueError, RecursionError) as err:
        raise RunOutputError(f"{what} is not valid JSON: {str(err)[:200]}", hint="write valid JSON") from err


def _nesting(text: str) -> int:
    """Deepest bracket nesting outside strings (a linear pre-scan, so json's recursive parser never goes deep)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def read_json(root: Path, rel: str | PurePosixPath, limits: ReadLimits = DEFAULT_LIMITS) -> Any:
    """A JSON file from a run, bounded (see `parse_json`)."""
    return parse_json(read_bytes(root, rel, limits, limits.max_json_bytes), str(rel), limits)


@contextlib.contextmanager
def _open_log(root: Path, rel: str | PurePosixPath) -> Iterator[tuple[int, os.stat_result] | None]:
    """A regular file of the run opened for a blocking read (no link followed), with its stat; None when absent."""
    parts = _parts(rel)
    try:
        with open_dir(root, PurePosixPath(*parts[:-1]) if len(parts) > 1 else "") as dir_fd:
            fd = os.open(parts[-1], FILE_FLAGS, dir_fd=dir_fd)
    except (OSError, RunOutputError, IndexError):
        yield None
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            yield None
            return
        os.set_blocking(fd, True)
        yield fd, info
    finally:
        os.close(fd)


def read_tail(root: Path, rel: str | PurePosixPath, max_bytes: int) -> str:
    """The last `max_bytes` of a regular file (a log), decoded leniently; "" when there is none."""
    with _open_log(root, rel) as opened:
        if opened is None:
            return ""
        fd, info = opened
        os.lseek(fd, max(0, info.st_size - max_bytes), os.SEEK_SET)
        return _read_at_most(fd, max_bytes).decode("utf-8", errors="replace")


def read_head_tail(root: Path, rel: str | PurePosixPath, max_bytes: int) -> str:
    """The first and the last `max_bytes` of a regular file (all of it when smaller); "" when there is none.
    Evidence printed early (a trace line) cannot be pushed out by flooding the log afterwards, nor the reverse."""
    with _open_log(root, rel) as opened:
        if opened is None:
            return ""
        fd, info = opened
        if info.st_size <= 2 * max_bytes:
            data = _read_at_most(fd, 2 * max_bytes)
        else:
            head = _read_at_most(fd, max_bytes)
            os.lseek(fd, info.st_size - max_bytes, os.SEEK_SET)
            data = head + b"\n[... middle of the log not read ...]\n" + _read_at_most(fd, max_bytes)
        return data.decode("utf-8", errors="replace")


def read_range(root: Path, rel: str | PurePosixPath, offset: int, max_bytes: int) -> tuple[bytes, int] | None:
    """At most `max_bytes` of a regular file from byte `offset`, and the file's size; None when there is none.
    A page of a log of any size (the web view pages stdout instead of loading it whole)."""
    with _open_log(root, rel) as opened:
        if opened is None:
            return None
        fd, info = opened
        os.lseek(fd, max(0, offset), os.SEEK_SET)
        return _read_at_most(fd, max_bytes), info.st_size


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total < limit and (chunk := os.read(fd, min(1 << 20, limit - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def log_tail(path: Path | str, max_bytes: int) -> str:
    """`read_tail` for a log given by full path (the harness's own log folder; the file itself is never followed)."""
    path = Path(path)
    if not str(path):
        return ""
    return read_tail(path.parent, path.name, max_bytes)


# --- walking ------------------------------------------------------------------------------------------------


def walk(
    root: Path,
    limits: ReadLimits = DEFAULT_LIMITS,
    *,
    visit: Callable[[int, str, Entry], bool] | None = None,
) -> Tree:
    """Every name under `root` (not `root` itself), depth-first, without following links, within the budgets.

    `visit(dir_fd, name, entry)` may act on an entry through its parent's descriptor and returns False to drop it
    (it was removed, or is not to be descended into). Past `max_depth` or `max_entries` the walk stops descending
    and records why in `Tree.over_budget`; entries beyond the budget are then handed to `visit` only as far as
    they are reached, so a caller can prune them.
    """
    tree = Tree()
    try:
        top = os.open(root, DIR_FLAGS)
    except OSError:
        return tree
    stack: list[tuple[int, str, int, Generator[str, None, None]]] = [(top, "", 0, _names(top))]
    try:
        while stack:
            fd, prefix, depth, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                names.close()
                os.close(fd)
                continue
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            rel = f"{prefix}{name}"
            entry = Entry(rel, info.st_mode, info.st_size, info.st_blocks * 512, info.st_mtime_ns, depth + 1)
            if len(tree.entries) >= limits.max_entries:
                tree.over_budget = tree.over_budget or f"more than {limits.max_entries} files and folders"
            keep = visit(fd, name, entry) if visit is not None else True
            if not keep:
                continue
            if len(tree.entries) < limits.max_entries:
                tree.entries.append(entry)
            if not stat.S_ISDIR(info.st_mode):
                continue
            if depth + 1 >= limits.max_depth:
                tree.over_budget = tree.over_budget or f"folders nested deeper than {limits.max_depth} levels"
                continue
            if tree.over_budget:
                continue
            try:
                child = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue
            stack.append((child, f"{rel}/", depth + 1, _names(child)))
    finally:
        for fd, _prefix, _depth, names in stack:
            names.close()
            os.close(fd)
    return tree


def _names(fd: int) -> Generator[str, None, None]:
    """The names in folder `fd`, read lazily (a folder with a million names is never listed whole)."""
    with os.scandir(fd) as items:
        for item in items:
            yield item.name


def remove_tree(path: Path) -> None:
    """Delete a file or a folder a run wrote, however deep, long-named, linked or unwritable (never follows a link).

    Subfolders are first moved up into the top folder (renames through descriptors), so the work never holds more
    than three descriptors, never builds a long path and never recurses."""
    path = Path(path)
    parent = os.open(path.parent, DIR_FLAGS)
    try:
        remove_at(parent, path.name)
    finally:
        os.close(parent)


def remove_at(parent_fd: int, name: str, *, keep_folder: bool = False) -> None:
    """`remove_tree` for `name` in folder `parent_fd`; with `keep_folder`, only empty it."""
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    with contextlib.suppress(OSError):
        os.chmod(name, 0o700, dir_fd=parent_fd)
    top = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    try:
        fresh = _FreshNames(top)
        pending = _drain(top, top, fresh)
        while pending:
            sub = pending.pop()
            with contextlib.suppress(OSError):
                os.chmod(sub, 0o700, dir_fd=top)
            try:
                fd = os.open(sub, DIR_FLAGS, dir_fd=top)
            except FileNotFoundError:
                continue
            try:
                pending.extend(_drain(fd, top, fresh))
            finally:
                os.close(fd)
            os.rmdir(sub, dir_fd=top)
    finally:
        os.close(top)
    if not keep_folder:
        os.rmdir(name, dir_fd=parent_fd)


class _FreshNames:
    """Names not yet used in folder `top`, for subfolders moved up into it."""

    def __init__(self, top: int) -> None:
        self.top, self.number = top, 0

    def __call__(self) -> str:
        while True:
            self.number += 1
            name = f".scientist-rm-{self.number}"
            try:
                os.stat(name, dir_fd=self.top, follow_symlinks=False)
            except FileNotFoundError:
                return name


def _drain(fd: int, top: int, fresh: _FreshNames) -> list[str]:
    """Unlink every non-folder in `fd`; subfolders are moved up into `top` (unless already there); their names."""
    folders = []
    with os.scandir(fd) as names:
        listed = [item.name for item in names]
    for name in listed:
        try:
            is_dir = stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            continue
        if not is_dir:
            os.unlink(name, dir_fd=fd)
        elif fd == top:
            folders.append(name)
        else:
            new = fresh()
            os.rename(name, new, src_dir_fd=fd, dst_dir_fd=top)
            folders.append(new)
    return folders


# --- after each run -----------------------------------------------------------------------------------------


@dataclass
class Settled:
    """What `settle_workspace` found and undid."""

    escaping_symlinks: list[str] = field(default_factory=list)
    special_files: list[str] = field(default_factory=list)  # FIFOs, sockets, devices: removed
    permissions_fixed: list[str] = field(default_factory=list)  # setuid/setgid/world-writable bits cleared
    pruned: list[str] = field(default_factory=list)  # what lay past the depth or entry budget: removed
    over_budget: str | None = None
    tree: Tree = field(default_factory=Tree)


def settle_workspace(workspace: Path, keep: Sequence[str] = (), limits: ReadLimits = DEFAULT_LIMITS) -> Settled:
    """Leave a finished run's workspace safe for host readers and within its budgets.

    Removes symlinks that point outside the workspace (or anywhere absolute), FIFOs/sockets/devices, and whatever
    lies past the depth or entry budget (never a `keep` path or one of its folders); clears setuid/setgid bits and
    world-write on folders. Returns what it did; the tree it saw is what is left.
    """
    settled = Settled()
    guarded: set[str] = set()
    for rel in keep:
        parts = PurePosixPath(rel).parts
        guarded.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    root = Path(workspace)

    def visit(dir_fd: int, name: str, entry: Entry) -> bool:
        mode = entry.mode
        over = settled_budget(entry)
        if stat.S_ISLNK(mode):
            if over or not _link_stays_inside(dir_fd, name, entry.rel):
                _unlink(dir_fd, name)
                (settled.pruned if over else settled.escaping_symlinks).append(entry.rel)
                return False
            return True
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            _unlink(dir_fd, name)
            settled.special_files.append(entry.rel)
            return False
        if over and entry.rel not in guarded:
            with contextlib.suppress(OSError):
                remove_at(dir_fd, name)
            settled.pruned.append(entry.rel)
            return False
        unsafe = mode & (stat.S_ISUID | stat.S_ISGID) or (stat.S_ISDIR(mode) and mode & stat.S_IWOTH)
        if unsafe:
            with contextlib.suppress(OSError):
                os.chmod(name, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH), dir_fd=dir_fd)
                settled.permissions_fixed.append(entry.rel)
        if stat.S_ISDIR(mode) and entry.depth >= limits.max_depth and entry.rel not in guarded:
            # the walk will not descend: empty it here so nothing below the budget stays on the host
            with contextlib.suppress(OSError):
                remove_at(dir_fd, name, keep_folder=True)
                settled.pruned.append(entry.rel + "/*")
        return True

    count = [0]

    def settled_budget(entry: Entry) -> bool:
        count[0] += 1
        return count[0] > limits.max_entries

    settled.tree = walk(root, limits, visit=visit)
    settled.over_budget = settled.tree.over_budget
    settled.escaping_symlinks.sort()
    return settled


def _unlink(dir_fd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _link_stays_inside(dir_fd: int, name: str, rel: str) -> bool:
    """A relative link whose target, resolved lexically from its folder, stays inside the workspace (targets
    that are themselves links are checked in their own turn, so a chain cannot leave either)."""
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return False
    if not target or os.path.isabs(target):
        return False
    depth = len(PurePosixPath(rel).parts) - 1
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part != ".":
            depth += 1
    return True


def copy_regular_files(
    src_root: Path,
    src_rel: str | PurePosixPath,
    dest: Path,
    limits: ReadLimits = DEFAULT_LIMITS,
    max_total: int = 512 * _MIB,
) -> list[str]:
    """Copy the regular files under `src_root/src_rel` into `dest` (links, FIFOs and anything else are skipped),
    within the depth/entry budget and `max_total` bytes; returns the relative names copied."""
    copied: list[str] = []
    total = 0
    with open_dir(src_root, src_rel):
        pass  # the folder itself must be reachable without a link
    base = Path(src_root, *_parts(src_rel))
    tree = walk(base, limits)
    if tree.over_budget:
        raise RunOutputError(f"{src_rel}: {tree.over_budget}", hint="the run left more than the harness copies")
    dest.mkdir(parents=True, exist_ok=True)
    for entry in tree.entries:
        target = dest / entry.rel
        if stat.S_ISDIR(entry.mode):
            target.mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(entry.mode):
            total += entry.size
            if total > max_total:
                raise RunOutputError(f"{src_rel} holds more than {max_total} bytes", hint="the run wrote too much")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_bytes(base, entry.rel, limits, max_total))
            copied.append(entry.rel)
    return copied
