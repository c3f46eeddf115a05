"""The run folder's result records (`scientist.records`): every result.json and paper.json a real run writes reads
back typed; an older file lacking a later field reads with its default; a damaged one is a `CorruptRunError`
naming the file and what to do, in the CLI, the monitors and the store importer alike (the web page names it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scientist.errors import CorruptRunError
from scientist.records import Attempt, ExperimentResult, LatexStatus, Paper
from scientist.runs import RunFolder
from tests.conftest import run_cli

# Keys stages.evaluation adds to a contract-v2 or several-seed record; the model keeps them as extra keys.
EVALUATION_KEYS = {"seeds", "agent_out", "failed_seed"}


def test_every_record_a_real_run_wrote_reads_typed_and_unchanged(real_run: Path) -> None:
    folder = RunFolder(real_run)
    paths = folder.results()
    assert {path.parent.name for path in paths} >= {"baseline"}
    for path in paths:
        raw = json.loads(path.read_text())
        result = ExperimentResult.read(path)
        assert result.label == raw["label"] == path.parent.name and result.ok is raw["ok"]
        assert set(result.model_extra or {}) <= EVALUATION_KEYS, "a key the writer adds needs a field of the model"
        assert ExperimentResult.read_dict(path) == raw  # what a resumed stage passes on: the record as written
        assert [attempt.attempt for attempt in result.attempts] == [item["attempt"] for item in raw["attempts"]]
        for attempt in result.attempts:
            assert set(attempt.model_extra or {}) <= EVALUATION_KEYS, "a key the writer adds needs a field of Attempt"
        if result.ok:
            assert result.final_info_path and (real_run / result.final_info_path).is_file()
    paper = Paper.read(folder.paper_json)
    raw_paper = json.loads(folder.paper_json.read_text())
    assert not paper.model_extra, "a key the writer adds needs a field of the model"
    assert paper.title == raw_paper["title"] and paper.latex.status in ("compiled", "failed", "absent")
    assert paper.md is not None and (real_run / paper.md).is_file()


def test_an_older_record_without_later_fields_reads_with_defaults(tmp_path: Path) -> None:
    old = tmp_path / "result.json"
    old.write_text(json.dumps({"label": "baseline", "ok": True, "final_info_path": "x/final_info.json"}))
    result = ExperimentResult.read(old)
    assert (result.mode, result.parent, result.depth, result.metric, result.attempts) == ("", None, 0, None, [])
    assert result.protected_violations == [] and result.stderr_tail == "" and result.timed_out is False
    paper_file = tmp_path / "paper.json"
    paper_file.write_text(json.dumps({"title": "T", "md": "paper/paper.md", "latex": {"status": "absent"}}))
    paper = Paper.read(paper_file)
    assert paper.citation_checks is None and paper.removed_numbers == [] and paper.operator_feedback is None
    assert paper.latex == LatexStatus(status="absent") and paper.latex.notice is None
    assert Paper.read(_write(tmp_path / "bare.json", {})).latex.status == "absent"  # before LaTeX was recorded


def test_unknown_keys_are_kept(tmp_path: Path) -> None:
    data = {"label": "run_1", "ok": False, "seeds": [{"seed": 1}], "failed_seed": 1, "a_later_field": {"x": 1}}
    result = ExperimentResult.read(_write(tmp_path / "result.json", data))
    assert result.model_extra == {"seeds": [{"seed": 1}], "failed_seed": 1, "a_later_field": {"x": 1}}
    assert result.model_dump(exclude_unset=True) == data


def test_attempts_are_typed_keeping_unknown_keys_and_defaulting_later_fields(tmp_path: Path) -> None:
    """An attempt whose edits never applied holds four keys, one that ran holds the sandbox's outcome (an int time
    stays an int), and a contract-v2 try adds its seeds: each reads as an `Attempt` and dumps back as written."""
    data = {"label": "run_1", "ok": False, "attempts": [
        {"attempt": 0, "edit": {"files": []}, "ran": False, "ok": False},
        {"attempt": 1, "ran": True, "ok": False, "exit_code": 1, "wall_time_s": 3, "seeds": [{"seed": 7}],
         "failed_seed": 7},
    ]}  # fmt: skip
    result = ExperimentResult.read(_write(tmp_path / "result.json", data))
    never, ran = result.attempts
    assert isinstance(never, Attempt) and isinstance(ran, Attempt)
    assert (never.ran, never.exit_code, never.stderr_tail, never.protected_violations) == (False, None, "", [])
    assert (ran.exit_code, ran.wall_time_s, ran.model_extra) == (1, 3, {"seeds": [{"seed": 7}], "failed_seed": 7})
    # what a re-dump would write: the same keys and values (3 stays 3, not 3.0); the writer writes its dict itself
    assert json.dumps(result.model_dump(exclude_unset=True), sort_keys=True) == json.dumps(data, sort_keys=True)
    assert ExperimentResult.read(_write(tmp_path / "old.json", {"label": "b", "attempts": [{}]})).attempts == [
        Attempt()
    ]  # an older try without later fields


@pytest.mark.parametrize(
    ("model", "text", "problem"),
    [
        (ExperimentResult, "{not json", "cannot be read: JSONDecodeError"),
        (ExperimentResult, "[1, 2]", "a JSON object was expected, not list"),
        (ExperimentResult, json.dumps({"ok": True}), "label: Field required"),
        (ExperimentResult, json.dumps({"label": "b", "attempts": "three"}), "attempts: Input should be a valid list"),
        (ExperimentResult, json.dumps({"label": "b", "metric": "high"}), "metric"),
        (ExperimentResult, json.dumps({"label": "b", "attempts": [{"exit_code": "one"}]}), "attempts.0.exit_code"),
        (ExperimentResult, json.dumps({"label": "b", "attempts": ["ran"]}), "attempts.0: Input should be"),
        (Paper, b"\xff\xfe".decode("latin-1"), "cannot be read"),
        (Paper, json.dumps({"latex": {"fix_rounds": "many"}}), "latex.fix_rounds"),
        (Paper, json.dumps({"removed_numbers": "none"}), "removed_numbers"),
    ],
)
def test_a_damaged_record_is_an_error_naming_the_file_and_the_fix(
    tmp_path: Path, model: type[ExperimentResult] | type[Paper], text: str, problem: str
) -> None:
    path = tmp_path / "record.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(CorruptRunError) as caught:
        model.read(path)
    assert str(path) in caught.value.message and problem in caught.value.message
    assert caught.value.hint and ("resume" in caught.value.hint or "scientist write" in caught.value.hint)


def test_a_missing_record_is_an_error_too(tmp_path: Path) -> None:
    with pytest.raises(CorruptRunError, match="is missing"):
        ExperimentResult.read(tmp_path / "result.json")


def test_the_writer_refuses_a_record_no_reader_would_take() -> None:
    with pytest.raises(CorruptRunError, match="label"):
        ExperimentResult.checked({"label": "", "ok": True}, "experiments/x/result.json")
    with pytest.raises(CorruptRunError, match="references"):
        Paper.checked({"title": "T", "references": "smith2020"}, "paper.json")


@pytest.mark.slow
def test_damaged_records_in_a_run_folder_are_clear_errors_for_every_reader(recorded_run: Path) -> None:
    from scientist.store.folder import read_run_folder
    from scientist.web.runview import experiments, paper

    run_dir = recorded_run
    result_path = RunFolder(run_dir).experiment("baseline") / RunFolder.RESULT
    result_path.write_text(json.dumps({"label": "baseline", "ok": True, "attempts": "damaged"}))
    shown = run_cli("runs", "show", run_dir.name, env={"COLUMNS": "250"})
    assert shown.returncode == 2 and "Traceback" not in shown.stderr, shown.stderr
    error = " ".join(shown.stderr.split())
    assert "result.json is damaged: attempts" in error and "resume the run" in error
    scanned = run_cli("monitors", "scan", str(run_dir), env={"COLUMNS": "400"})
    assert scanned.returncode == 2 and "Traceback" not in scanned.stderr, scanned.stderr
    assert "result.json is damaged: attempts" in " ".join(scanned.stderr.split())
    with pytest.raises(CorruptRunError, match=r"result\.json is damaged"):
        read_run_folder(run_dir)
    shown = experiments(run_dir, [])
    labels = [run["label"] for run in shown["runs"]]
    assert "baseline" not in labels and labels  # the page shows the runs it can read, and names the damaged one
    damaged = [(item["label"], item["file"]) for item in shown["damaged"]]
    assert damaged == [("baseline", "experiments/baseline/result.json")]
    RunFolder(run_dir).paper_json.write_text(json.dumps({"title": "T", "latex": "compiled"}))
    damaged_paper = paper(run_dir)
    assert damaged_paper and "paper.json is damaged: latex" in damaged_paper["damaged"]["problem"]
    with pytest.raises(CorruptRunError, match=r"paper\.json is damaged: latex"):
        Paper.read(RunFolder(run_dir).paper_json)


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path
