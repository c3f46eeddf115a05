"""Search/replace edits proposed by a model, applied to a workspace only where the template allows.

The model answers in the aider / AI-Scientist block format::

    config.json
    <<<<<<< SEARCH
        "gamma": 0.95,
    =======
        "gamma": 0.6,
    >>>>>>> REPLACE

Parsing is lenient (fences, `File:` prefixes, 5-9 marker characters, a missing file line when only one file is
editable) because weak models drift from the format; applying is strict: a block must match its file exactly once,
first byte-for-byte, then ignoring indentation and trailing spaces. A response is applied all-or-nothing, so a
half-applied edit never reaches a sandbox run. Edits to protected files or to anything outside the editable set are
refused and audited; every applied diff is stored as an audit blob. `feedback()` turns the problems into the text
the model sees on its next attempt.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, Field

from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\b.*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\b.*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PATH_PREFIX = re.compile(r"^(?:#+\s*)?(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)
MAX_FEEDBACK_CHARS = 1500


class EditBlock(BaseModel):
    """One search/replace block as the model wrote it (`path` not yet checked)."""

    path: str
    search: str
    replace: str


class EditProblem(BaseModel):
    """Why a block (or the whole response) was not applied; `kind` drives auditing and the feedback text."""

    kind: Literal["format", "refused", "no_match", "ambiguous", "missing_file"]
    path: str | None = None
    message: str


class EditResult(BaseModel):
    """The outcome of one model response: which files changed (with their diff blobs), or why nothing did."""

    blocks: int = 0
    applied: bool = False
    changed: list[str] = Field(default_factory=list)
    diff_blobs: dict[str, str] = Field(default_factory=dict)
    fuzzy: list[str] = Field(default_factory=list, description="files matched only after whitespace normalising")
    problems: list[EditProblem] = Field(default_factory=list)


def _strip_path(line: str) -> str:
    text = _PATH_PREFIX.sub("", line.strip().strip("`*\"' "))
    return text.strip().strip("`*\"'").strip().rstrip(":").strip()


def parse_edit_blocks(text: str, default_path: str | None = None) -> tuple[list[EditBlock], list[EditProblem]]:
    """Every well-formed block in `text`; malformed ones become `format` problems (nothing is guessed silently
    except the file name when `default_path` is given, i.e. when only one file may be edited)."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[EditBlock] = []
    problems: list[EditProblem] = []
    index = 0
    while index < len(lines):
        if not _SEARCH.match(lines[index]):
            index += 1
            continue
        path = _path_before(lines, index) or default_path
        divider = _next(lines, index + 1, _DIVIDER, stop=_SEARCH)
        end = _next(lines, (divider or index) + 1, _REPLACE, stop=_SEARCH) if divider is not None else None
        if divider is None or end is None:
            missing = "=======" if divider is None else ">>>>>>> REPLACE"
            problems.append(EditProblem(kind="format", message=f"a SEARCH block has no '{missing}' line"))
            index += 1
            continue
        if path is None:
            problems.append(EditProblem(kind="format", message="a SEARCH block has no file name on the line before it"))
        else:
            search = "\n".join(lines[index + 1 : divider])
            replace = "\n".join(lines[divider + 1 : end])
            blocks.append(EditBlock(path=path, search=search, replace=replace))
        index = end + 1
    if not blocks and not problems:
        problems.append(
            EditProblem(kind="format", message="no SEARCH/REPLACE block found (write: file name, then the block)")
        )
    return blocks, problems


def _next(lines: Sequence[str], start: int, pattern: re.Pattern[str], stop: re.Pattern[str]) -> int | None:
    for index in range(start, len(lines)):
        if pattern.match(lines[index]):
            return index
        if stop.match(lines[index]):
            return None
    return None


def _path_before(lines: Sequence[str], index: int) -> str | None:
    """The nearest non-empty, non-fence line above a SEARCH marker, if it looks like a file name."""
    for back in range(index - 1, max(-1, index - 4), -1):
        line = lines[back].strip()
        if not line or _FENCE.match(line):
            continue
        if _REPLACE.match(line) or _DIVIDER.match(line):
            return None
        candidate = _strip_path(line)
        if candidate and " " not in candidate and ("." in candidate or "/" in candidate):
            return candidate
        return None
    return None


def _normalise(path: str) -> str | None:
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    return str(pure).removeprefix("./")


def _under(path: str, entries: Sequence[str]) -> bool:
    return any(path == entry or path.startswith(entry.rstrip("/") + "/") for entry in entries)


def replace_once(content: str, search: str, replace: str) -> tuple[str | None, str]:
    """(new content, how) where how is 'exact' or 'whitespace'; (None, reason) when the block does not match once."""
    if not search.strip():
        return None, "the SEARCH section is empty; copy the lines to change from the file"
    count = content.count(search)
    if count == 1:
        return content.replace(search, replace, 1), "exact"
    if count > 1:
        return None, f"the SEARCH text occurs {count} times; include more surrounding lines so it is unique"
    file_lines = content.split("\n")
    search_lines = _trim_blank(search.split("\n"))
    wanted = [line.strip() for line in search_lines]
    hits = [
        start
        for start in range(len(file_lines) - len(wanted) + 1)
        if [line.strip() for line in file_lines[start : start + len(wanted)]] == wanted
    ]
    if len(hits) != 1:
        reason = "matches no lines of the file" if not hits else f"matches {len(hits)} places"
        return None, f"the SEARCH text {reason}, even ignoring indentation; copy the lines exactly"
    start = hits[0]
    replacement = _reindent(_trim_blank(replace.split("\n")), search_lines, file_lines[start])
    new_lines = file_lines[:start] + replacement + file_lines[start + len(wanted) :]
    return "\n".join(new_lines), "whitespace"


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(replace: list[str], search: list[str], matched_first: str) -> list[str]:
    """Shift the replacement by the indentation difference between the file and what the model wrote."""
    wrote, actual = _indent(search[0]) if search else "", _indent(matched_first)
    shifted = []
    for line in replace:
        if line.startswith(wrote):
            shifted.append(actual + line[len(wrote) :] if line.strip() else "")
        else:
            shifted.append(line)
    return shifted


def apply_edits(
    workspace: Path,
    text: str,
    *,
    editable: Sequence[str],
    protected: Sequence[str],
    audit: AuditLog | None = None,
    context: dict[str, object] | None = None,
) -> EditResult:
    """Parse `text` and apply its blocks to `workspace` all-or-nothing; refusals and diffs are audited."""
    context = context or {}
    default = editable[0] if len(editable) == 1 else None
    blocks, problems = parse_edit_blocks(text, default_path=default)
    result = EditResult(blocks=len(blocks), problems=list(problems))
    contents: dict[str, str] = {}
    originals: dict[str, str] = {}
    for block in blocks:
        path = _normalise(block.path)
        if path is None or _under(path, protected) or not _under(path, editable):
            why = "is protected" if path is not None and _under(path, protected) else "is not an editable file"
            problem = EditProblem(
                kind="refused",
                path=block.path,
                message=f"{block.path} {why}; you may only edit: {', '.join(editable)}",
            )
            result.problems.append(problem)
            if audit is not None:
                audit.emit(audit_events.EditRefused(**context, path=block.path, reason=why), "agent")
            continue
        if path not in contents:
            file = workspace / path
            if not file.is_file():
                result.problems.append(
                    EditProblem(kind="missing_file", path=path, message=f"{path} does not exist in the workspace")
                )
                continue
            originals[path] = contents[path] = file.read_text(encoding="utf-8")
        new, how = replace_once(contents[path], block.search, block.replace)
        if new is None:
            kind: Literal["ambiguous", "no_match"] = "ambiguous" if "occurs" in how else "no_match"
            result.problems.append(EditProblem(kind=kind, path=path, message=f"{path}: {how}"))
            continue
        if how == "whitespace" and path not in result.fuzzy:
            result.fuzzy.append(path)
        contents[path] = new
    if result.problems or not blocks:
        return result
    for path, new in contents.items():
        if new == originals[path]:
            continue
        (workspace / path).write_text(new, encoding="utf-8")
        diff = unified_diff(originals[path], new, path)
        result.changed.append(path)
        if audit is not None:
            blob = audit.put_blob(diff)
            result.diff_blobs[path] = blob
            audit.emit(audit_events.EditApplied(**context, path=path, diff_blob=blob), "agent")
    result.applied = bool(result.changed)
    if not result.applied:
        result.problems.append(EditProblem(kind="no_match", message="the edits change nothing"))
    return result


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )


def feedback(result: EditResult) -> str:
    """What the model is told when its edits could not be applied (bounded, one line per problem)."""
    lines = [f"- {problem.message}" for problem in result.problems]
    text = "Your edits were NOT applied:\n" + "\n".join(lines)
    return text[:MAX_FEEDBACK_CHARS]
