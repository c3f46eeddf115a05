"""A strict reader for unified diffs (plain `diff -u` and `git diff`, with renames, modes, symlinks, binaries).

Strict on purpose: a diff the reader cannot fully account for is an `UnreadableDiff`, which the monitors turn into
a critical event, so a malformed patch can never slip an edit past them (fail closed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

MAX_DIFF_BYTES = 2 * 1024 * 1024
SYMLINK_MODE = "120000"

_GIT_HEADER = re.compile(r"^diff --git (?P<a>\S+) (?P<b>\S+)$")
# The line plain `diff -ruN a b` prints before each file pair (its options, then the two paths): a separator.
_PLAIN_HEADER = re.compile(r"^diff(?: -{1,2}[\w=-]+)* \S+ \S+$")
_HUNK = re.compile(r"^@@ -(?P<os>\d+)(?:,(?P<ol>\d+))? \+(?P<ns>\d+)(?:,(?P<nl>\d+))? @@")


class UnreadableDiff(ValueError):
    """The text is not a unified diff the monitors can fully analyse; the message says why."""


@dataclass
class Hunk:
    old_start: int
    new_start: int
    lines: list[str] = field(default_factory=list)  # each starts with ' ', '+' or '-'

    @property
    def added(self) -> list[str]:
        return [line[1:] for line in self.lines if line.startswith("+")]

    @property
    def removed(self) -> list[str]:
        return [line[1:] for line in self.lines if line.startswith("-")]


@dataclass
class FileDiff:
    """One file's change. Paths are workspace-relative (a/ b/ prefixes stripped); None means /dev/null."""

    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    renamed: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or "?"

    @property
    def paths(self) -> set[str]:
        return {p for p in (self.old_path, self.new_path) if p}

    @property
    def is_new(self) -> bool:
        return self.old_path is None

    @property
    def is_deleted(self) -> bool:
        return self.new_path is None

    @property
    def is_symlink(self) -> bool:
        return SYMLINK_MODE in (self.old_mode, self.new_mode)

    @property
    def added(self) -> list[str]:
        return [line for hunk in self.hunks for line in hunk.added]

    @property
    def removed(self) -> list[str]:
        return [line for hunk in self.hunks for line in hunk.removed]


def _strip(path: str) -> str | None:
    path = path.split("\t", 1)[0].strip()
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    if path == "/dev/null":
        return None
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path


def _tree_roots_removed(old: str | None, new: str | None) -> tuple[str | None, str | None]:
    """`diff -ruN orig/x.py new/x.py`: the two compared trees' own folder names are no part of the path."""
    if old is None or new is None:
        return old, new
    old_parts, new_parts = PurePosixPath(old).parts, PurePosixPath(new).parts
    if (
        len(old_parts) >= 2
        and old_parts[1:] == new_parts[1:]
        and old_parts[0] != new_parts[0]
        and "/"
        not in (
            old_parts[0],
            new_parts[0],
        )
    ):
        rest = str(PurePosixPath(*old_parts[1:]))
        return rest, rest
    return old, new


def normalise(path: str) -> str:
    """A posix path without './' parts; '..' and absolute paths are kept visible (they escape the workspace)."""
    parts = [part for part in PurePosixPath(path).parts if part not in (".", "")]
    return "/".join(parts) if not path.startswith("/") else "/" + "/".join(parts[1:])


def parse(text: str | bytes, *, max_bytes: int = MAX_DIFF_BYTES) -> list[FileDiff]:
    """Every file change in `text`; raises UnreadableDiff for anything not a complete, well-formed diff."""
    if isinstance(text, bytes):
        if b"\x00" in text:
            raise UnreadableDiff("the patch contains NUL bytes (binary content cannot be analysed)")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UnreadableDiff(f"the patch is not UTF-8 text ({err.reason} at byte {err.start})") from None
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise UnreadableDiff(f"the patch is larger than {max_bytes // 1024} KiB (too big to analyse)")
    if "\x00" in text:
        raise UnreadableDiff("the patch contains NUL characters (binary content cannot be analysed)")
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    files: list[FileDiff] = []
    current: FileDiff | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        git = _GIT_HEADER.match(line)
        if git:
            current = FileDiff(_strip(git["a"]), _strip(git["b"]))
            files.append(current)
            index += 1
            continue
        if line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1].startswith("+++ "):
            old, new = _tree_roots_removed(_strip(line[4:]), _strip(lines[index + 1][4:]))
            if current is None or current.hunks or not _same_file(current, old, new):
                current = FileDiff(old, new)
                files.append(current)
            else:
                current.old_path, current.new_path = old, new
            index += 2
            continue
        if _PLAIN_HEADER.match(line) and not line.startswith("diff --git "):
            current = None  # the next `---`/`+++` pair opens the file; a header without one is caught below
            index += 1
            continue
        if line.startswith("@@"):
            if current is None:
                raise UnreadableDiff(f"line {index + 1}: a hunk before any file header")
            index = _read_hunk(lines, index, current)
            continue
        if current is not None and not current.hunks and _git_extended(line, current):
            index += 1
            continue
        if current is None or current.hunks:
            if line.strip() == "" or line.startswith(("\\ No newline", "#")):
                index += 1
                continue
            if current is None and not files:
                index += 1  # a preamble (e.g. a commit message) before the first file
                continue
            raise UnreadableDiff(f"line {index + 1} is not part of a unified diff: {line[:80]!r}")
        index += 1
    if not files:
        raise UnreadableDiff("no file changes found (expected '--- a/FILE' / '+++ b/FILE' headers and @@ hunks)")
    for file in files:
        for attr in ("old_path", "new_path"):
            value = getattr(file, attr)
            if value is not None:
                setattr(file, attr, normalise(value))
        if not (file.hunks or file.binary or file.renamed or file.new_mode or file.is_new or file.is_deleted):
            raise UnreadableDiff(f"{file.path}: a file header without any change")
    return files


def _same_file(current: FileDiff, old: str | None, new: str | None) -> bool:
    return {p for p in (old, new) if p} <= current.paths | {p for p in (old, new) if p}


def _git_extended(line: str, current: FileDiff) -> bool:
    """git's extended header lines (modes, renames, index, binary markers); False for anything else."""
    if line.startswith(("old mode ", "deleted file mode ")):
        current.old_mode = line.rsplit(" ", 1)[1]
        if line.startswith("deleted"):
            current.new_path = None
        return True
    if line.startswith(("new mode ", "new file mode ")):
        current.new_mode = line.rsplit(" ", 1)[1]
        if line.startswith("new file"):
            current.old_path = None
        return True
    if line.startswith(("rename from ", "copy from ")):
        current.old_path = line.split(" ", 2)[2]
        current.renamed = True
        return True
    if line.startswith(("rename to ", "copy to ")):
        current.new_path = line.split(" ", 2)[2]
        current.renamed = True
        return True
    if line.startswith(("similarity index", "dissimilarity index", "index ")):
        if line.startswith("index ") and line.count(" ") == 2:  # "index abc..def 100644": the unchanged mode
            mode = line.rsplit(" ", 1)[1]
            current.old_mode = current.old_mode or mode
            current.new_mode = current.new_mode or mode
        return True
    if line.startswith("Binary files ") or line == "GIT binary patch":
        current.binary = True
        return True
    return current.binary and bool(
        re.match(r"^(literal|delta) \d+$|^[A-Za-z][0-9A-Za-z+/=~`!@#$%^&*(){}|;<>?_-]*$", line)
    )


def _read_hunk(lines: list[str], index: int, current: FileDiff) -> int:
    match = _HUNK.match(lines[index])
    if not match:
        raise UnreadableDiff(f"line {index + 1}: malformed hunk header {lines[index][:80]!r}")
    old_left = int(match["ol"]) if match["ol"] is not None else 1
    new_left = int(match["nl"]) if match["nl"] is not None else 1
    hunk = Hunk(int(match["os"]), int(match["ns"]))
    index += 1
    while old_left > 0 or new_left > 0:
        if index >= len(lines):
            raise UnreadableDiff(f"{current.path}: the last hunk is cut short (the patch is truncated)")
        line = lines[index]
        if line.startswith("\\"):
            index += 1
            continue
        tag = line[:1] if line else " "
        if tag == " ":
            old_left -= 1
            new_left -= 1
        elif tag == "-":
            old_left -= 1
        elif tag == "+":
            new_left -= 1
        else:
            raise UnreadableDiff(f"line {index + 1}: {current.path}: hunk line count does not match its header")
        if old_left < 0 or new_left < 0:
            raise UnreadableDiff(f"line {index + 1}: {current.path}: hunk is longer than its header says")
        hunk.lines.append(line if line else " ")
        index += 1
    while index < len(lines) and lines[index].startswith("\\"):
        index += 1
    current.hunks.append(hunk)
    return index


def apply(original: str, file: FileDiff) -> str:
    """`original` with the file's hunks applied; raises UnreadableDiff when the context does not match."""
    source = original.split("\n")
    out: list[str] = []
    position = 0
    for hunk in file.hunks:
        start = max(hunk.old_start - 1, 0) if hunk.old_start else 0
        expected = [line[1:] for line in hunk.lines if line[0] in " -"]
        start = _locate(source, expected, start, position)
        out.extend(source[position:start])
        cursor = start
        for line in hunk.lines:
            if line[0] == "+":
                out.append(line[1:])
            else:
                cursor += 1
                if line[0] == " ":
                    out.append(line[1:])
        position = cursor
    out.extend(source[position:])
    return "\n".join(out)


def _locate(source: list[str], expected: list[str], start: int, floor: int) -> int:
    """Where `expected` occurs in `source`, preferring `start` (line numbers may be off after earlier edits)."""

    def fits(at: int) -> bool:
        return at >= floor and source[at : at + len(expected)] == expected

    if fits(start):
        return start
    for offset in range(1, len(source) + 1):
        for at in (start - offset, start + offset):
            if 0 <= at <= len(source) and fits(at):
                return at
    raise UnreadableDiff(f"a hunk at line {start + 1} does not match the template's file")
