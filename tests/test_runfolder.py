"""RunFolder: the one place a run folder's layout is spelled, and its atomic JSON write."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import scientist
from scientist.runs import RunFolder

PACKAGE = Path(scientist.__file__).parent
NAMES = {value for key, value in vars(RunFolder).items() if key.isupper() and isinstance(value, str)}


def test_paths_are_under_the_root_and_nested_names_agree() -> None:
    folder = RunFolder(Path("/r/run-1"))
    assert folder.plan == Path("/r/run-1/experiments/plan.json")
    assert folder.experiment("baseline") / RunFolder.RESULT == Path("/r/run-1/experiments/baseline/result.json")
    assert folder.judgement("abc") == Path("/r/run-1/judge/abc/judgement.json")
    assert folder.candidate_pool("ideas") == Path("/r/run-1/candidates/ideas.json")
    assert folder.path(RunFolder.NOTES) == folder.notes
    assert RunFolder("/r/run-1").root == Path("/r/run-1")  # a str from the store is taken as a path


def test_the_docstring_is_the_layout() -> None:
    """Every name the class spells appears in its docstring (the layout the docs point to), so neither drifts."""
    doc = RunFolder.__doc__ or ""
    missing = sorted(name for name in NAMES if name.rsplit("/", 1)[-1] not in doc)
    assert not missing, f"RunFolder's docstring does not show {missing}"


def test_results_lists_each_planned_runs_result_in_name_order(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    for label in ("b_run", "a_run"):
        RunFolder.write_json(folder.experiment(label) / RunFolder.RESULT, {"label": label})
    folder.experiment("killed").mkdir()  # a run killed before its result.json: not a result
    assert [path.parent.name for path in folder.results()] == ["a_run", "b_run"]


def test_write_json_keeps_each_files_format(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.json"  # the folder is created
    RunFolder.write_json(path, {"b": "é", "a": Path("p")})
    assert path.read_text(encoding="utf-8") == '{\n  "b": "é",\n  "a": "p"\n}'
    RunFolder.write_json(path, {"b": "é", "a": 1}, indent=1, sort_keys=True, ensure_ascii=True)
    assert path.read_text(encoding="utf-8") == '{\n "a": 1,\n "b": "\\u00e9"\n}'


def test_write_json_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    RunFolder.write_json(path, {"ok": True})
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        RunFolder.write_json(path, loop)
    assert json.loads(path.read_text(encoding="utf-8")) == {"ok": True}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.json")]  # no temporary left


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        node = node.left
    return node


def _spelled_paths(source: str) -> list[str]:
    """Run-folder names joined onto a run folder with `/` (e.g. `ctx.run_dir / "review.json"`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            continue
        root = _root(node)
        named = root.id if isinstance(root, ast.Name) else root.attr if isinstance(root, ast.Attribute) else ""
        side = node.right
        if named == "run_dir" and isinstance(side, ast.Constant) and side.value in NAMES:
            found.append(str(side.value))
    return found


def test_no_module_but_runs_spells_a_run_folder_path() -> None:
    """A new `run_dir / "selected_idea.json"` elsewhere would be a second spelling of the layout: use RunFolder."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "runs.py" or relative.startswith("templates/"):
            continue
        spelled = _spelled_paths(path.read_text(encoding="utf-8"))
        if spelled:
            offenders[relative] = spelled
    assert not offenders, f"spell these through scientist.runs.RunFolder: {offenders}"


def test_the_guard_catches_a_spelled_path() -> None:
    source = 'p = ctx.run_dir / "experiments" / "plan.json"\nq = run_dir / "other.txt"\nr = out / "review.json"'
    assert _spelled_paths(source) == ["experiments"]
