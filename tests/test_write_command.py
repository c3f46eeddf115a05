"""`scientist write RUN` and the write gate's feedback, on whole runs of the real CLI: replayed model answers, or the
loopback stub answering every structured request (tests/schema_answers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scientist.approvals.store import ApprovalStore
from scientist.audit.log import AuditLog
from tests.conftest import FIXTURE_TOPIC, SYNTHETIC_CORPUS, quick_sandbox, replay_env, run_cli
from tests.openai_stub import OpenAIStub, serve
from tests.schema_answers import SchemaResponder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # whole runs: minutes on a busy machine
FEEDBACK = "Say plainly that every result comes from a single seed."


def only_run(work: Path) -> Path:
    (run_dir,) = (work / "runs").iterdir()
    return run_dir


def run_info(run_dir: Path) -> dict[str, str]:
    info: dict[str, str] = json.loads((run_dir / "run.json").read_text())
    return info


def test_write_rewrites_a_finished_replay_run_then_resume_reviews_it(recorded_run: Path, replay_store: Path) -> None:
    env = replay_env(replay_store)
    run_dir = recorded_run
    before = (run_dir / "paper" / "paper.md").read_text()
    calls_before = len(AuditLog(run_dir).find(kind="llm_call"))

    result = run_cli("write", run_dir.name, "--repair-retries", "4", env=env)  # a knob the structured hints name
    assert result.returncode == 0, result.stderr + result.stdout
    (rerun,) = AuditLog(run_dir).find(kind="write_rerun")
    assert rerun.payload["overrides"] == {"repair_retries": 4}
    assert "paper written" in result.stdout and f"scientist resume {run_dir.name}" in " ".join(result.stdout.split())
    paper = json.loads((run_dir / "paper.json").read_text())
    assert (run_dir / paper["md"]).read_text() == before  # same recorded answers, same paper
    writes = AuditLog(run_dir).find(kind="node_end", node="write")
    assert len(writes) == 2 and writes[-1].payload.get("rerun")
    calls = AuditLog(run_dir).find(kind="llm_call")[calls_before:]
    assert calls and all(c.payload["stage"] == "write" and c.payload["replayed"] for c in calls)
    info = run_info(run_dir)
    assert info["status"] == "paused" and "scientist write" in info["status_detail"]
    for node in ("ideate", "novelty", "select", "experiment"):
        assert len(AuditLog(run_dir).find(kind="node_start", node=node)) == 1, node  # nothing else re-ran

    reviewed = run_cli("resume", run_dir.name, env=env)
    assert reviewed.returncode == 0, reviewed.stderr
    assert run_info(run_dir)["status"] == "completed"
    assert len(AuditLog(run_dir).find(kind="node_end", node="review")) == 2
    assert len(AuditLog(run_dir).find(kind="node_start", node="write")) == 2  # resume went straight to review
    assert run_cli("audit", "verify", run_dir.name).returncode == 0


def test_write_refuses_a_run_without_finished_experiments(isolated_env: Path, replay_store: Path) -> None:
    env = replay_env(replay_store, SCIENTIST_FAULT_KILL_AT="before:experiment")
    run_cli("run", FIXTURE_TOPIC, env=env)  # killed (-9) as the experiment node starts
    run_dir = only_run(isolated_env)
    result = run_cli("write", run_dir.name, env=replay_env(replay_store))
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "has no finished experiments" in message and f"scientist resume {run_dir.name}" in message
    assert "Traceback" not in result.stderr and not (run_dir / "paper").exists()
    missing = run_cli("write", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    yield from serve(OpenAIStub(responder=SchemaResponder()))


def stub_env(stub: OpenAIStub, tmp_path: Path) -> dict[str, str]:
    return {
        "SCIENTIST_MODEL": "openai/gpt-4o-mini",
        "SCIENTIST_API_BASE": stub.base_url,
        "SCIENTIST_LLM_CACHE_DIR": str(tmp_path / "llm"),
        "SCIENTIST_SANDBOX": quick_sandbox(),
        "SCIENTIST_NUM_IDEAS": "1",
        "SCIENTIST_NOVELTY_POLICY": "off",
        "SCIENTIST_SEED_CORPUS": str(SYNTHETIC_CORPUS),
        "SCIENTIST_ARXIV_OFFLINE": "1",
        "SCIENTIST_EXPERIMENT_RUNS": "0",
        "SCIENTIST_REVIEW_ENSEMBLE": "1",
        "SCIENTIST_TRANSIENT_RETRIES": "0",
    }


def test_write_gate_feedback_reaches_every_section_prompt(
    isolated_env: Path, stub: OpenAIStub, tmp_path: Path
) -> None:
    env = stub_env(stub, tmp_path)
    assert run_cli("run", FIXTURE_TOPIC, "--approve", "all", env=env).returncode == 4
    run_dir = only_run(isolated_env)
    while (approval := ApprovalStore(run_dir).pending()[0]).kind != "write":
        assert run_cli("approve", approval.id, "--resume", env=env).returncode == 4
    wrong = run_cli("approve", approval.id, "--edit", "title=x")
    assert wrong.returncode == 2 and "takes only feedback=TEXT" in " ".join(wrong.stderr.split())
    decided = run_cli("approve", approval.id, "--edit", f"feedback={FEEDBACK}", "--by", "carol", "--resume", env=env)
    assert decided.returncode == 0, decided.stderr + decided.stdout
    assert run_info(run_dir)["status"] == "completed"

    audit = AuditLog(run_dir)
    (decision,) = [r for r in audit.find(kind="approval_decided") if r.payload["kind"] == "write"]
    assert decision.actor == "human:carol" and decision.payload["edit"] == {"feedback": FEEDBACK}
    sections = audit.find(kind="paper_section")
    assert len(sections) == 14  # 7 sections x (draft + 1 reflection)
    assert all(r.payload["feedback_in_prompt"] for r in sections)
    assert all(FEEDBACK in audit.blob_path(r.payload["prompt_blob"]).read_text() for r in sections)
    writer = ("You write one section", "You revise one section")
    write_requests = [r for r in stub.requests if r["messages"][0]["content"].startswith(writer)]
    assert len(write_requests) == 14 and all(FEEDBACK in r["messages"][-1]["content"] for r in write_requests)
    assert json.loads((run_dir / "paper.json").read_text())["operator_feedback"] == FEEDBACK
    assert run_cli("audit", "verify", run_dir.name).returncode == 0


def test_a_schema_the_reviewers_server_refuses_stops_the_run_and_resume_after_the_fix_keeps_the_rest(
    isolated_env: Path, stub: OpenAIStub, tmp_path: Path
) -> None:
    """Issue 19: the reviewer's model, forced onto the embedded model's plain schema, gets OpenAI's 400 only at the
    review; the run stops there with the config fix named, and a resume after the fix reviews without redoing
    ideation, experiments or the paper."""
    env = {**stub_env(stub, tmp_path), "SCIENTIST_ROLE_MODELS": '{"review": "openai/gpt-4o"}'}
    broken = {**env, "SCIENTIST_MODELS": '{"openai/gpt-4o": {"structured_output": "grammar"}}'}
    stopped = run_cli("run", FIXTURE_TOPIC, env=broken)
    assert stopped.returncode != 0 and "Traceback" not in stopped.stderr
    message = " ".join(stopped.stderr.split())
    assert "openai/gpt-4o rejected the structured-output request" in message
    assert 'structured_output = "json_object" under [models."openai/gpt-4o"]' in message
    run_dir = only_run(isolated_env)
    assert run_info(run_dir)["status"] != "completed" and (run_dir / "paper.json").exists()
    asked_before = len(stub.requests)
    assert stub.rejected and all(r["model"] == "gpt-4o" for r in stub.requests[asked_before - len(stub.rejected):])

    fixed = {**env, "SCIENTIST_MODELS": '{"openai/gpt-4o": {"structured_output": "json_object"}}'}  # the hint's fix
    resumed = run_cli("resume", run_dir.name, env=fixed)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert run_info(run_dir)["status"] == "completed" and (run_dir / "review.json").exists()
    after = stub.requests[asked_before:]
    assert after and all(r["model"] == "gpt-4o" for r in after)  # only the review was asked again
    assert all(r["response_format"] == {"type": "json_object"} for r in after) and len(stub.rejected) == 1
    (resume,) = AuditLog(run_dir).find(kind="run_resume")
    assert resume.payload["overrides"]["models"] == {"openai/gpt-4o": {"structured_output": "json_object"}}
    assert run_cli("audit", "verify", run_dir.name).returncode == 0
