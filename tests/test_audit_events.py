"""Typed audit events: every kind the code writes has a model, a wrong payload is refused when it is written, old
logs still verify and read back (unknown or older shapes as GenericEvent), and typing a record keeps its hash."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import tomllib
from pathlib import Path

import pytest

from scientist.audit.events import (
    EVENTS,
    ApprovalDecided,
    AuditEvent,
    AuditEventError,
    BestOfN,
    CheckedByMonitors,
    ExperimentRun,
    GenericEvent,
    IdeaReflected,
    NodeEnd,
    NodeStart,
    SandboxFallback,
    SandboxRun,
    SandboxUnisolated,
    Tournament,
    typed,
)
from scientist.audit.log import AuditLog, AuditRecord, canonical_json, to_jsonable, verify

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
# Every folder installed as a package of scientist (pyproject's package-dir): scientist/, tools/, sandbox/, reviews/...
PACKAGE_DIRS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
PACKAGE_FOLDERS = sorted(set(PACKAGE_DIRS.values()))


# -- every kind written in the code has a model ------------------------------------------------------
def untyped_writes(source: str, where: str) -> tuple[list[str], int]:
    """(problems, audit writes seen) in one module: `x.append(kind, actor, payload)` must name a kind with a model
    as a string literal (a kind chosen at run time goes through `emit` and a model instead); `x.emit(event, actor)`
    is counted as a write."""
    problems, seen = [], 0
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr == "emit" and len(node.args) == 2:
            seen += 1  # audit.emit(Model(...), actor): typed by the model (and by mypy)
            continue
        if node.func.attr != "append" or len(node.args) != 3 or ast.unparse(node.func.value) == "audit_anchor":
            continue  # list.append takes one argument; audit_anchor.append(path, seq, hash) is the outside anchor
        seen += 1
        kind = node.args[0]
        if not (isinstance(kind, ast.Constant) and isinstance(kind.value, str)):
            problems.append(f"{where}:{node.lineno}: kind {ast.unparse(kind)} is not a literal: use audit.emit(Model)")
        elif kind.value not in EVENTS:
            problems.append(f"{where}:{node.lineno}: kind {kind.value!r} has no model in scientist/audit/events.py")
    return problems, seen


def test_every_kind_the_code_writes_has_a_model() -> None:
    problems, seen = [], 0
    for folder in PACKAGE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "templates" in path.relative_to(ROOT / folder).parts[:1]:
                continue  # experiment templates run in the sandbox, they write no audit log
            found, count = untyped_writes(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
            problems += found
            seen += count
    assert seen >= 60, f"the scan found only {seen} audit writes: it no longer recognises them"
    assert not problems, "\n".join(problems)


def test_the_scan_catches_an_untyped_kind() -> None:
    source = (
        "audit.append('node_start', 'pipeline', {'node': 'x'})\n"
        "ctx.audit.append('brand_new_kind', 'pipeline', {})\n"
        "ctx.audit.append(kind, 'pipeline', {})\n"
        "items.append(3)\n"
        "ctx.audit.emit(NodeStart(node='x'), 'pipeline')\n"
    )
    problems, seen = untyped_writes(source, "m.py")
    assert seen == 4
    assert [problem.split(": ", 1)[0] for problem in problems] == ["m.py:2", "m.py:3"]
    assert "'brand_new_kind' has no model" in problems[0] and "use audit.emit" in problems[1]


# -- a wrong payload is refused when it is written ---------------------------------------------------------------
def test_a_wrong_type_is_refused_naming_kind_and_field(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    with pytest.raises(AuditEventError) as info:
        log.append("node_start", "pipeline", {"node": 3})
    assert "'node_start'" in info.value.message and "'node'" in info.value.message
    assert "NodeStart" in str(info.value.hint)
    assert log.records() == []  # nothing written


def test_a_missing_field_and_an_unknown_key_are_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    with pytest.raises(AuditEventError, match=r"'node_error' refused: field 'error': Field required"):
        log.append("node_error", "pipeline", {"node": "write"})
    with pytest.raises(AuditEventError, match=r"'node_start' refused: field 'nod': Extra inputs"):
        log.append("node_start", "pipeline", {"node": "write", "nod": "typo"})
    assert log.records() == []


def test_a_model_is_checked_when_it_is_built_and_emitted_as_the_dict_it_replaces(tmp_path: Path) -> None:
    with pytest.raises(AuditEventError, match=r"'checked_by_monitors' refused: field 'events'"):
        CheckedByMonitors(where="sandbox", node="experiment", candidate=None, events="three")
    log = AuditLog(tmp_path)
    emitted = log.emit(IdeaReflected(sample=0, round=1, from_="old", to="new"), "pipeline")
    appended = log.append("idea_reflected", "pipeline", {"sample": 0, "round": 1, "from": "old", "to": "new"})
    assert emitted.payload == appended.payload == {"sample": 0, "round": 1, "from": "old", "to": "new"}
    assert log.emit(NodeStart(node="write"), "pipeline").payload == {"node": "write"}  # no default added
    assert verify(tmp_path).ok


def test_a_kind_without_a_model_is_written_and_read_back_generic(tmp_path: Path) -> None:
    record = AuditLog(tmp_path).append("third_party_note", "plugin", {"text": "hello"})
    event = typed(record)
    assert isinstance(event, GenericEvent) and event.payload == {"text": "hello"} and event.problem is None


# -- old logs: still verify, read back typed, hashes unchanged --------------------------------------------------------
def fixture_logs() -> list[Path]:
    return sorted(FIXTURES.rglob("audit.jsonl"))


def test_recorded_logs_verify_and_type_without_changing_a_hash(tmp_path: Path) -> None:
    logs = fixture_logs()
    assert logs, "no audit.jsonl under tests/fixtures"
    for log_path in logs:
        copy = tmp_path / log_path.parent.name
        shutil.copytree(log_path.parent, copy)  # written by the code before typed events (see its README)
        assert verify(copy).ok, verify(copy).problem
        lines = log_path.read_text(encoding="utf-8").splitlines()
        for line, record in zip(lines, AuditLog(copy).records(), strict=True):
            event = typed(record)
            if isinstance(event, GenericEvent):
                continue
            # The typed form dumps back to the stored payload byte for byte, so the record's hash is unchanged.
            retyped = AuditRecord.model_validate({**record.model_dump(), "payload": to_jsonable(event.payload())})
            assert canonical_json(retyped.model_dump()) == line
            assert retyped.computed_hash() == record.hash


def test_old_shapes_and_unknown_kinds_read_back_as_generic_never_an_error() -> None:
    (log_path,) = [path for path in fixture_logs() if path.parent.name == "v1-run"]
    events = [typed(AuditRecord.model_validate_json(line)) for line in log_path.read_text().splitlines()]
    generic = {event.kind: event for event in events if isinstance(event, GenericEvent)}
    assert set(generic) == {"run_resume", "legacy_note"}
    assert generic["legacy_note"].problem is None  # no model for it
    assert "field 'overrides': Field required" in str(generic["run_resume"].problem)  # written by an older shape
    assert {type(event).__name__ for event in events} >= {"RunStart", "LLMCall", "SandboxRun", "MonitorEventRecord"}


def test_every_record_of_a_replayed_run_is_its_kinds_model(recorded_run: Path) -> None:
    records = AuditLog(recorded_run).records()
    untyped = [(record.seq, record.kind, typed(record)) for record in records]
    problems = [f"{seq} {kind}: {getattr(event, 'problem', None)}" for seq, kind, event in untyped
                if isinstance(event, GenericEvent)]  # fmt: skip
    assert len(records) > 50 and not problems, "\n".join(problems)


# -- the catalogue ------------------------------------------------------------------------------------------------
def test_the_docs_catalogue_lists_every_model_with_its_fields_and_writers() -> None:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    lines = [line for line in hooks.audit_reference().splitlines() if line.startswith("| `")]
    rows = {line.split(" | ")[0].strip("| `"): line for line in lines}
    assert set(rows) == set(EVENTS), sorted(set(rows) ^ set(EVENTS))  # every written kind has a model, and back
    assert "`from`" in rows["idea_reflected"] and "`rerun?`" in rows["node_start"]
    assert "*open*" in rows["sandbox_run"] and "*open*" not in rows["node_start"]
    # kinds written through emit(Model(...)), also when the model is picked at run time, are found with their writer
    assert "`scientist.stages.bestofn`" in rows["monitor_flagged_candidate"]
    assert "`scientist.reviews.reviewer`" in rows["review_failed"]
    assert "`scientist.monitors.hooks`" in rows["checked_by_monitors"]


def test_the_state_keys_a_node_set_are_stored_not_redacted(tmp_path: Path) -> None:
    """`keys` was taken for a credential and stored as "[REDACTED]"; `state_keys` is kept as written."""
    log = AuditLog(tmp_path)
    record = log.emit(NodeEnd(node="ideate", state_keys=["candidates", "ideas"]), "pipeline")
    assert log.records()[-1].payload == record.payload == {"node": "ideate", "state_keys": ["candidates", "ideas"]}
    old = log.append("node_end", "pipeline", {"node": "select", "keys": "[REDACTED]"})  # a log from before
    assert typed(old) == NodeEnd(node="select", keys="[REDACTED]")


# -- emit writes what append wrote ------------------------------------------------------------------------------------
def test_the_code_writes_every_record_through_a_model() -> None:
    """Every audit write of the code is `emit(Model(...), actor)`, sandbox/'s `record_choice` too (the sandbox sits
    one layer above audit, so it builds the models itself): no `append(kind, actor, payload)` anywhere."""
    appends = []
    for folder in PACKAGE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "append"
                    and len(node.args) == 3
                    and ast.unparse(node.func.value) != "audit_anchor"
                ):
                    appends.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert appends == []


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        (ExperimentRun, {"label": "run_1", "mode": "edit", "parent": "baseline", "ok": True, "failure": None,
                         "metric": 3, "files_changed": ["config.json"], "attempts": 1, "code_diff_blob": None}),
        (BestOfN, {"stage": "plan", "n": 3, "selector": "metric", "winner_index": 2, "scores": [1, None, 2.5],
                   "excluded": [], "flagged": [], "path": "candidates/plan.json"}),
        (Tournament, {"stage": "ideas", "schedule": "all_pairs", "rounds": 1, "comparisons": 2, "failed": 0,
                      "first_position_wins": 1, "second_position_wins": 1, "ties": 0, "ratings": {"0": 1, "1": -1.5}}),
        (ApprovalDecided, {"id": "a1", "kind": "budget", "action": "approve", "reason": "", "edit": {},
                           "budget": {"usd": 5, "tokens": 1000.0}}),
        (SandboxRun, {"backend": "local", "command": ["python", "plot.py"], "exit_code": 0, "timed_out": False,
                      "oom_killed": False, "wall_time_s": 2, "label": "plots", "ok": True, "image": "x"}),
        # record_choice's two kinds, appended by name before
        (SandboxFallback, {"requested": "docker", "used": "local", "reason": "Docker engine not reachable"}),
        (SandboxUnisolated, {"backend": "unsafe-subprocess", "requested": "unsafe-subprocess"}),
    ],
)  # fmt: skip
def test_a_record_emitted_through_its_model_hashes_as_the_dict_appended_before(
    tmp_path: Path, model: type[AuditEvent], payload: dict[str, object]
) -> None:
    """A model's float field would turn a stored 3 into 3.0 (another hash than the dict the code used to append):
    numbers are kept as written (`events.Number`)."""
    appended = AuditLog(tmp_path / "appended").append(model.KIND, "pipeline", payload)
    emitted = AuditLog(tmp_path / "emitted").emit(model.model_validate(payload), "pipeline")
    # The hashed bytes of the payload (a record's hash also covers its time and predecessor, so compare these)
    assert canonical_json(emitted.payload) == canonical_json(appended.payload) == canonical_json(payload)
