"""A study at its [budget] pauses on a "raise budget or stop" approval instead of failing (issue 8, item 4).

Whole runs through the real pipeline and sandbox, the model being the loopback OpenAI stub answering from each
request's schema (as in tests/test_study.py), driven through the CLI for the exit codes: 3 = paused at a budget,
0 = done or stopped by a human, 2 = a bad decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from scientist.approvals.store import all_approvals
from scientist.store import open_store
from scientist.store.models import Cell, Run
from scientist.web.app import create_app
from tests.conftest import FIXTURE_TOPIC, SYNTHETIC_CORPUS, quick_sandbox, run_cli
from tests.openai_stub import OpenAIStub
from tests.openai_stub import serve as serve_openai
from tests.schema_answers import SchemaResponder
from tests.stub_study import QUICK_RUNS

pytestmark = pytest.mark.slow


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(SYNTHETIC_CORPUS))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    yield from serve_openai(OpenAIStub(responder=SchemaResponder()))


def write_study(path: Path, name: str, base_url: str, n: int = 3) -> Path:
    path.write_text(f"""
name = "{name}"
topics = ["{FIXTURE_TOPIC}"]
templates = ["reward_misspec"]
models = ["openai/gpt-4o-mini"]
variants = ["plain"]
n = {n}
seeds = [0]
[budget]
tokens = 1
[settings]
api_base = "{base_url}"
llm_cache_dir = "{path.parent / "llm-cache"}"
sandbox = "{quick_sandbox()}"
{QUICK_RUNS}
[judge]
model = "openai/gpt-4o-mini"
""")
    return path


def stored(db: str) -> tuple[list[str], list[tuple[str, int, str]]]:
    store = open_store(db)
    with store.session() as session:
        cells = [cell.status for cell in session.scalars(select(Cell))]
        runs = [(r.id, r.sample_index, r.status) for r in session.scalars(select(Run).order_by(Run.sample_index))]
    store.close()
    return cells, runs


def pending_study_approval(runs_root: Path) -> str:
    (approval,) = [a for a, _ in all_approvals(runs_root) if a.status == "pending"]
    assert approval.kind == "study_budget" and approval.run_id.startswith("study:")
    return approval.id


def test_at_its_cap_a_study_pauses_on_an_approval_and_a_raise_continues_it(llm: OpenAIStub, tmp_path: Path) -> None:
    study = write_study(tmp_path / "study.toml", "capped", llm.base_url)
    db, runs_root = str(tmp_path / "study.sqlite"), tmp_path / "runs"
    args = ["study", "run", str(study), "--db", db, "--runs-dir", str(runs_root)]
    first = run_cli(*args)
    assert first.returncode == 3, first.stderr + first.stdout  # paused at a budget, not a failure
    approval_id = pending_study_approval(runs_root)
    assert f"paused on approval {approval_id}" in first.stderr and "Traceback" not in first.stderr
    assert f"scientist approve {approval_id} --budget-usd N" in first.stderr
    cells, runs = stored(db)
    assert cells == ["pending"] and [(s, st) for _, s, st in runs] == [(0, "completed")]  # one run, then the cap

    listed = run_cli("approvals", "list", "--runs-dir", str(runs_root), env={"COLUMNS": "200"})
    assert listed.returncode == 0 and approval_id in listed.stdout and "study_budget" in listed.stdout
    page = TestClient(create_app(runs_root, resume_after_decision=False)).get("/")
    assert approval_id in page.text  # and on the web page
    again = run_cli(*args)  # still waiting: the same question, no new one, no new run
    assert again.returncode == 3 and pending_study_approval(runs_root) == approval_id
    assert len(stored(db)[1]) == 1

    unsure = run_cli("approve", approval_id, "--runs-dir", str(runs_root))
    assert unsure.returncode == 2 and "raise the budget or stop" in unsure.stderr
    raised = run_cli("approve", approval_id, "--budget-tokens", "1000000000", "--runs-dir", str(runs_root))
    assert raised.returncode == 0, raised.stderr
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr + done.stdout
    cells, runs = stored(db)
    assert cells == ["completed"] and [(s, st) for _, s, st in runs] == [(0, "completed"), (1, "completed"),
                                                                          (2, "completed")]  # fmt: skip
    folders = sorted(runs_root.glob("studies/*/*/sample-*/*/run.json"))
    assert len(folders) == 3 and len({path.parent.name for path in folders}) == 3  # no duplicate runs
    assert '"run_resume"' not in (folders[0].parent / "audit.jsonl").read_text()  # the first run was kept
    audit = [json.loads(line) for line in (runs_root / "studies" / "capped" / "audit.jsonl").read_text().splitlines()]
    decided = [r for r in audit if r["kind"] == "approval_decided"]
    assert len(decided) == 1 and decided[0]["payload"]["budget"] == {"budget_tokens": 1e9}
    assert decided[0]["actor"].startswith("human:cli:")


def test_rejecting_the_raise_stops_the_study_cleanly(llm: OpenAIStub, tmp_path: Path) -> None:
    study = write_study(tmp_path / "study.toml", "stopper", llm.base_url, n=2)
    db, runs_root = str(tmp_path / "study.sqlite"), tmp_path / "runs"
    args = ["study", "run", str(study), "--db", db, "--runs-dir", str(runs_root)]
    assert run_cli(*args).returncode == 3
    approval_id = pending_study_approval(runs_root)
    rejected = run_cli("reject", approval_id, "--reason", "enough spent", "--runs-dir", str(runs_root))
    assert rejected.returncode == 0, rejected.stderr
    for _ in range(2):  # reported as stopped every time, with nothing new asked or run
        stopped = run_cli(*args)
        assert stopped.returncode == 0, stopped.stderr + stopped.stdout
        assert "stopped" in stopped.stdout and "enough spent" in stopped.stdout and "Traceback" not in stopped.stderr
        cells, runs = stored(db)
        assert cells == ["stopped"] and len(runs) == 1
        assert [a.status for a, _ in all_approvals(runs_root)] == ["rejected"]
    # Raising the file's own cap above the spend is the way on: the study continues.
    study.write_text(study.read_text().replace("tokens = 1\n", "tokens = 1000000000\n"))
    go_on = run_cli(*args)
    assert go_on.returncode == 0, go_on.stderr + go_on.stdout
    cells, runs = stored(db)
    assert cells == ["completed"] and [(s, st) for _, s, st in runs] == [(0, "completed"), (1, "completed")]


def test_wall_time_cap_and_raises_without_runs(tmp_path: Path) -> None:
    """The wall-time cap pauses like the others; an approved raise lifts it; a lower raise never lowers a cap."""
    from scientist.approvals.store import ApprovalStore, Decision
    from scientist.study.budget import check_study_budget, study_caps
    from scientist.study.execute import StudyBudgetError
    from scientist.study.spec import parse_study

    spec = parse_study(
        'name = "walled"\ntopics = ["t"]\ntemplates = ["reward_misspec"]\nmodels = ["local/smollm2-135m"]\n'
        'variants = ["plain"]\nn = 1\nseeds = [0]\n[budget]\nwall_s = 0\ntokens = 50\n'
    )
    store = open_store(str(tmp_path / "s.sqlite"))
    study_dir = tmp_path / "runs" / "studies" / "walled"
    with pytest.raises(StudyBudgetError, match=r"0 of 0 s of wall time") as paused:
        check_study_budget(store, spec, [], study_dir)
    assert paused.value.exit_code == 3
    (approval,) = ApprovalStore(study_dir).pending()
    ApprovalStore(study_dir).decide(
        approval.id, Decision(action="approve", budget={"budget_wall_s": 60.0, "budget_tokens": 10.0}), "me"
    )
    caps = study_caps(spec, ApprovalStore(study_dir).all())
    assert caps == {"budget_usd": None, "budget_tokens": 50.0, "budget_wall_s": 60.0}
    check_study_budget(store, spec, [], study_dir)  # under every cap now: no error, nothing new asked
    assert len(ApprovalStore(study_dir).all()) == 1
    store.close()


def test_a_study_run_waiting_at_its_own_gate_is_listed_and_the_next_study_run_resumes_it(
    llm: OpenAIStub, tmp_path: Path
) -> None:
    """A run of a study that stops at an approval gate leaves its cell waiting (not failed, which the next pass would
    skip); `approvals list` finds the nested run's approval; deciding it and running the study again finishes it."""
    study = write_study(tmp_path / "study.toml", "gated", llm.base_url, n=2)
    gated = study.read_text().replace("[budget]\ntokens = 1\n", "")
    study.write_text(gated.replace("[settings]\n", '[settings]\napprove = "ideas"\n'))
    db, runs_root = str(tmp_path / "study.sqlite"), tmp_path / "runs"
    args = ["study", "run", str(study), "--db", db, "--runs-dir", str(runs_root)]
    first = run_cli(*args, env={"COLUMNS": "200"})
    assert first.returncode == 4, first.stderr + first.stdout  # waiting for a human, like a single run at a gate
    assert "wait for approvals" in first.stdout and "Traceback" not in first.stderr
    cells, runs = stored(db)
    assert cells == ["waiting"] and [(s, st) for _, s, st in runs] == [(0, "waiting"), (1, "waiting")]

    pending = [a for a, _ in all_approvals(runs_root) if a.status == "pending"]
    assert sorted(a.kind for a in pending) == ["ideas", "ideas"]
    assert {a.run_id for a in pending} == {run_id for run_id, _, _ in runs}
    listed = run_cli("approvals", "list", "--runs-dir", str(runs_root), env={"COLUMNS": "200"})
    assert all(a.id in listed.stdout for a in pending), listed.stdout
    assert all(a.id in TestClient(create_app(runs_root, resume_after_decision=False)).get("/").text for a in pending)

    again = run_cli(*args)  # undecided: still waiting, the same two questions, no new runs
    assert again.returncode == 4 and len(stored(db)[1]) == 2
    assert sorted(a.id for a, _ in all_approvals(runs_root)) == sorted(a.id for a in pending)

    for approval in pending:
        decided = run_cli("approve", approval.id, "--runs-dir", str(runs_root), env={"COLUMNS": "300"})
        assert decided.returncode == 0, decided.stderr
        assert "scientist study run" in decided.stdout and "scientist resume" in decided.stdout
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr + done.stdout
    cells, runs = stored(db)
    assert cells == ["completed"] and [(s, st) for _, s, st in runs] == [(0, "completed"), (1, "completed")]
    assert len(list(runs_root.glob("studies/*/*/sample-*/*/run.json"))) == 2  # resumed, not started again
