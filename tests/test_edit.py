"""scientist.tools.edit: lenient parsing of search/replace blocks, strict and all-or-nothing application."""

from __future__ import annotations

from pathlib import Path

import pytest

from scientist.audit.log import AuditLog, verify
from scientist.tools.edit import EditResult, apply_edits, feedback, parse_edit_blocks, replace_once

CONFIG = '{\n  "alpha": 0.5,\n  "gamma": 0.95\n}\n'
CODE = "def f(x):\n    if x:\n        return 1\n    return 0\n"


def block(path: str, search: str, replace: str, marks: int = 7) -> str:
    return f"{path}\n{'<' * marks} SEARCH\n{search}\n{'=' * marks}\n{replace}\n{'>' * marks} REPLACE\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "config.json").write_text(CONFIG)
    (folder / "method.py").write_text(CODE)
    (folder / "experiment.py").write_text("EVAL = 1\n")
    return folder


def apply(workspace: Path, text: str, audit: AuditLog | None = None) -> EditResult:
    return apply_edits(
        workspace, text, editable=["config.json", "method.py"], protected=["experiment.py", "latex"], audit=audit
    )


def test_parses_fenced_prefixed_and_odd_marker_blocks() -> None:
    text = (
        "Sure! Here are the edits.\n```json\n**File: config.json**\n"
        + block("", '  "alpha": 0.5,', '  "alpha": 0.1,', marks=6).lstrip("\n")
        + "```\n\n`method.py`\n"
        + block("", "        return 1", "        return 2", marks=9).lstrip("\n")
    )
    blocks, problems = parse_edit_blocks(text)
    assert problems == []
    assert [(b.path, b.search, b.replace) for b in blocks] == [
        ("config.json", '  "alpha": 0.5,', '  "alpha": 0.1,'),
        ("method.py", "        return 1", "        return 2"),
    ]


def test_missing_file_name_uses_the_only_editable_file_or_is_a_problem() -> None:
    text = "<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE"
    assert parse_edit_blocks(text, default_path="config.json")[0][0].path == "config.json"
    blocks, problems = parse_edit_blocks(text)
    assert blocks == [] and "no file name" in problems[0].message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("I think gamma should be lower.", "no SEARCH/REPLACE block"),
        ("config.json\n<<<<<<< SEARCH\na\n>>>>>>> REPLACE", "no '======='"),
        ("config.json\n<<<<<<< SEARCH\na\n=======\nb\n", "no '>>>>>>> REPLACE'"),  # cut off at max_tokens
    ],
)
def test_malformed_output_is_a_format_problem(text: str, fragment: str) -> None:
    blocks, problems = parse_edit_blocks(text)
    assert blocks == [] and problems[0].kind == "format" and fragment in problems[0].message


def test_exact_then_whitespace_tolerant_matching() -> None:
    assert replace_once(CODE, "        return 1", "        return 2") == (CODE.replace("return 1", "return 2"), "exact")
    # The model lost the indentation and added trailing spaces: matched line by line, re-indented to the file.
    new, how = replace_once(CODE, "if x:   \n    return 1", "if x and x > 0:\n    return 2")
    assert how == "whitespace"
    assert new == "def f(x):\n    if x and x > 0:\n        return 2\n    return 0\n"
    assert replace_once(CODE, "return", "r")[0] is None  # ambiguous (occurs 2 times)
    assert "occurs 2 times" in replace_once(CODE, "return", "r")[1]
    assert "matches no lines" in replace_once(CODE, "return 7", "r")[1]
    assert "empty" in replace_once(CODE, "  \n", "r")[1]


def test_applied_edits_write_files_and_audit_each_diff(workspace: Path, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "run")
    text = block("config.json", '  "alpha": 0.5,', '  "alpha": 0.1,') + block("method.py", "return 0", "return -1")
    result = apply(workspace, text, audit)
    assert result.applied and result.changed == ["config.json", "method.py"]
    assert '"alpha": 0.1' in (workspace / "config.json").read_text()
    records = audit.find(kind="edit_applied")
    assert [r.payload["path"] for r in records] == ["config.json", "method.py"]
    diff = audit.blob_path(records[0].payload["diff_blob"]).read_text()
    assert '-  "alpha": 0.5,' in diff and '+  "alpha": 0.1,' in diff
    assert verify(tmp_path / "run").ok


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("experiment.py", "is protected"),
        ("latex/template.tex", "is protected"),
        ("../outside.py", "is not an editable file"),
        ("/etc/passwd", "is not an editable file"),
        ("plot.py", "is not an editable file"),
    ],
)
def test_edits_outside_the_editable_set_are_refused_audited_and_nothing_applies(
    workspace: Path, tmp_path: Path, path: str, why: str
) -> None:
    audit = AuditLog(tmp_path / "run")
    text = block("config.json", '  "alpha": 0.5,', '  "alpha": 0.1,') + block(path, "EVAL = 1", "EVAL = 2")
    result = apply(workspace, text, audit)
    assert not result.applied
    assert (workspace / "config.json").read_text() == CONFIG  # all-or-nothing: the valid block was not applied
    assert (workspace / "experiment.py").read_text() == "EVAL = 1\n"
    (refused,) = audit.find(kind="edit_refused")
    assert refused.payload == {"path": path, "reason": why}
    message = feedback(result)
    assert message.startswith("Your edits were NOT applied") and why in message and "config.json, method.py" in message


def test_a_non_matching_block_blocks_the_whole_response(workspace: Path) -> None:
    text = block("config.json", '  "alpha": 0.5,', '  "alpha": 0.1,') + block("method.py", "return 9", "return 8")
    result = apply(workspace, text)
    assert not result.applied and (workspace / "config.json").read_text() == CONFIG
    assert "method.py: the SEARCH text matches no lines" in feedback(result)


def test_an_edit_that_changes_nothing_is_not_applied(workspace: Path) -> None:
    result = apply(workspace, block("config.json", '  "alpha": 0.5,', '  "alpha": 0.5,'))
    assert not result.applied and "change nothing" in feedback(result)
