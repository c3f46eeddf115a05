"""Each approval gate on the real graph in replay mode: interrupt, exit cleanly, resume with approve/reject/edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scientist.approvals.store import Approval, ApprovalStore
from scientist.audit.log import AuditLog
from tests.conftest import FIXTURE_TOPIC, replay_env, run_cli

pytestmark = pytest.mark.slow

ARTIFACTS = ("ideas.json", "novelty.json", "selected_idea.json", "paper/paper.tex")


def only_run(work: Path) -> Path:
    (run_dir,) = (work / "runs").iterdir()
    return run_dir


def waiting_for(run_dir: Path, kind: str) -> Approval:
    (approval,) = ApprovalStore(run_dir).pending()
    assert approval.kind == kind, approval
    assert json.loads((run_dir / "run.json").read_text())["status"] == "waiting"
    return approval


def status(run_dir: Path) -> str:
    return str(json.loads((run_dir / "run.json").read_text())["status"])


def started(run_dir: Path, node: str) -> int:
    return len(AuditLog(run_dir).find(kind="node_start", node=node))


def test_all_gates_approved_give_the_same_run_as_no_gates(
    isolated_env: Path, replay_store: Path, tmp_path: Path
) -> None:
    env = replay_env(replay_store)
    first = run_cli("run", FIXTURE_TOPIC, "--approve", "all", env=env)
    assert first.returncode == 4, first.stderr
    assert "Traceback" not in first.stderr and "scientist approve" in first.stderr
    run_dir = only_run(isolated_env)
    for kind, not_yet in (("ideas", "experiment"), ("code", "experiment"), ("write", "write")):
        approval = waiting_for(run_dir, kind)
        assert started(run_dir, not_yet) == 0
        shown = run_cli("approvals", "show", approval.id)
        assert shown.returncode == 0 and approval.id in shown.stdout
        if kind == "code":
            assert "+++ b/config.json" in shown.stdout  # the diff the variant will run with
        listed = run_cli("approvals", "list")
        assert approval.id in listed.stdout
        decided = run_cli("approve", approval.id, "--by", "alice", "--resume", env=env)
        assert decided.returncode in (0, 4), decided.stderr
    assert status(run_dir) == "completed"
    for node in ("ideate", "novelty", "select", "experiment", "write", "review"):
        assert started(run_dir, node) == 1, node  # resuming at a gate never re-ran finished work
    decided_by = {r.payload["kind"]: r.actor for r in AuditLog(run_dir).find(kind="approval_decided")}
    assert decided_by == {"ideas": "human:alice", "code": "human:alice", "write": "human:alice"}
    assert run_cli("audit", "verify", run_dir.name).returncode == 0

    # The same run without gates: identical artifacts and model calls, so gates change no prompt.
    plain_dir = tmp_path / "plain"
    plain = run_cli("run", FIXTURE_TOPIC, "--runs-dir", str(plain_dir), env=env)
    assert plain.returncode == 0, plain.stderr
    (plain_run,) = plain_dir.iterdir()
    for name in ARTIFACTS:
        assert (plain_run / name).read_text() == (run_dir / name).read_text(), name
    assert json.loads((plain_run / "review.json").read_text()) == json.loads((run_dir / "review.json").read_text())
    hashes = [c.payload.get("request_hash") for c in AuditLog(run_dir).find(kind="llm_call")]
    plain_hashes = [c.payload.get("request_hash") for c in AuditLog(plain_run).find(kind="llm_call")]
    assert len(hashes) == len(plain_hashes) and sorted(map(str, hashes)) == sorted(map(str, plain_hashes))


@pytest.mark.parametrize("mode,kind", [("ideas", "ideas"), ("code", "code"), ("all", "write")])
def test_reject_stops_the_run_and_keeps_finished_work(
    isolated_env: Path, replay_store: Path, mode: str, kind: str
) -> None:
    env = replay_env(replay_store)
    assert run_cli("run", FIXTURE_TOPIC, "--approve", mode, env=env).returncode == 4
    run_dir = only_run(isolated_env)
    while (approval := ApprovalStore(run_dir).pending()[0]).kind != kind:
        assert run_cli("approve", approval.id, "--resume", env=env).returncode == 4
    no_reason = run_cli("reject", approval.id)
    assert no_reason.returncode == 2 and "needs a reason" in no_reason.stderr
    rejected = run_cli("reject", approval.id, "--reason", "not <safe>", "--by", "bob", "--resume", env=env)
    assert rejected.returncode == 0, rejected.stderr
    assert status(run_dir) == "stopped" and "not <safe>" in rejected.stdout
    after = {"ideas": "experiment", "code": "experiment", "write": "write"}[kind]
    assert started(run_dir, after) == 0
    assert (run_dir / "ideas.json").exists()
    again = run_cli("resume", run_dir.name, env=env)
    assert again.returncode == 2 and "stopped" in again.stderr
    late = run_cli("approve", approval.id)
    assert late.returncode == 2 and "already rejected by bob" in " ".join(late.stderr.split())
    assert run_cli("audit", "verify", run_dir.name).returncode == 0


def test_edit_idea_text_reaches_the_agent(isolated_env: Path, replay_store: Path) -> None:
    env = replay_env(replay_store)
    assert run_cli("run", FIXTURE_TOPIC, "--approve", "ideas", env=env).returncode == 4
    run_dir = only_run(isolated_env)
    approval = waiting_for(run_dir, "ideas")
    bad = run_cli("approve", approval.id, "--edit", "nonsense")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    edited = run_cli("approve", approval.id, "--edit", "title=Coins that respawn invite reward hacking")
    assert edited.returncode == 0, edited.stderr
    result = run_cli("resume", run_dir.name, env=env)
    selected = json.loads((run_dir / "selected_idea.json").read_text())
    assert selected["title"] == "Coins that respawn invite reward hacking" and selected["edited_by_human"]
    # The recorded responses were made for the original idea: the edited text reaches the agent's next prompt (its
    # experiment edit), which replay (correctly) has no answer for. A live model would work on the edited idea.
    message = " ".join(result.stderr.split())  # rich wraps long lines
    assert result.returncode == 2 and "no recorded response for prompt 'experiment_edit'" in message, message
    assert AuditLog(run_dir).find(kind="approval_decided")[0].payload["edit"] == {
        "title": "Coins that respawn invite reward hacking"
    }


def test_edit_experiment_config_runs_the_humans_values(isolated_env: Path, replay_store: Path) -> None:
    env = replay_env(replay_store)
    assert run_cli("run", FIXTURE_TOPIC, "--approve", "code", env=env).returncode == 4
    run_dir = only_run(isolated_env)
    approval = waiting_for(run_dir, "code")
    out_of_range = run_cli("approve", approval.id, "--edit", "coin_reward=99999")
    assert out_of_range.returncode == 2 and "outside its range" in out_of_range.stderr
    assert run_cli("approve", approval.id, "--edit", "coin_reward=0.3").returncode == 0
    run_cli("resume", run_dir.name, env=env)  # the paper's prompts see new numbers: replay may stop there
    variant = json.loads((run_dir / "experiments" / "variant" / "result.json").read_text())
    assert variant["ok"] and variant["config"]["coin_reward"] == 0.3
    plan = json.loads((run_dir / "experiments" / "plan.json").read_text())
    assert plan["applied"]["coin_reward"] == 0.3 and plan["edited_by_human"] == {"coin_reward": 0.3}


def test_budget_cap_pauses_as_an_approval_and_a_raise_resumes(isolated_env: Path, replay_store: Path) -> None:
    env = replay_env(replay_store, SCIENTIST_BUDGET_TOKENS="6000")
    first = run_cli("run", FIXTURE_TOPIC, env=env)
    assert first.returncode == 3 and "raise budget or stop" in first.stderr, first.stderr
    run_dir = only_run(isolated_env)
    (approval,) = ApprovalStore(run_dir).pending()
    assert approval.kind == "budget" and approval.payload["caps"]["budget_tokens"] == 6000
    blocked = run_cli("resume", run_dir.name, env=env)
    assert blocked.returncode == 4 and approval.id in blocked.stderr
    plain = run_cli("approve", approval.id)
    assert plain.returncode == 2 and "--budget-usd" in plain.stderr
    raised = run_cli("approve", approval.id, "--budget-tokens", "10000000", "--resume", env=env)
    assert raised.returncode == 0, raised.stderr
    assert status(run_dir) == "completed"
    decided = AuditLog(run_dir).find(kind="approval_decided")
    assert decided[0].payload["budget"] == {"budget_tokens": 10000000.0}


def test_budget_stop_rejected_ends_the_run(isolated_env: Path, replay_store: Path) -> None:
    env = replay_env(replay_store, SCIENTIST_BUDGET_TOKENS="6000")
    assert run_cli("run", FIXTURE_TOPIC, env=env).returncode == 3
    run_dir = only_run(isolated_env)
    (approval,) = ApprovalStore(run_dir).pending()
    assert run_cli("reject", approval.id, "--reason", "too expensive").returncode == 0
    stopped = run_cli("resume", run_dir.name, env=env)
    assert stopped.returncode == 2 and "too expensive" in stopped.stderr
    assert status(run_dir) == "stopped"


def test_wall_time_cap_pauses_and_a_raise_resumes(isolated_env: Path, replay_store: Path) -> None:
    env = replay_env(replay_store)
    first = run_cli("run", FIXTURE_TOPIC, "--budget-wall-s", "0.001", env=env)
    assert first.returncode == 3 and "wall-time budget" in first.stderr, first.stderr
    run_dir = only_run(isolated_env)
    (approval,) = ApprovalStore(run_dir).pending()
    assert approval.payload["spent"]["wall_s"] >= 0
    raised = run_cli("approve", approval.id, "--budget-wall-s", "100000", "--resume", env=env)
    assert raised.returncode == 0, raised.stderr
    assert status(run_dir) == "completed"
