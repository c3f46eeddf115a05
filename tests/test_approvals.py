"""The approvals store and the `request_approval` hook, on real SQLite files and a real langgraph graph."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypedDict

import pytest

from scientist.approvals.decide import decide
from scientist.approvals.errors import ApprovalError
from scientist.approvals.gates import request_approval
from scientist.approvals.store import ApprovalStore, Decision
from scientist.audit.log import AuditLog, verify
from scientist.runs import create_run, load_run, save_run


def waiting_run(runs_dir: Path, status: str = "waiting") -> tuple[str, Path]:
    info = create_run(runs_dir, "a topic", "reward_misspec", "local/smollm2-135m", {"template": "reward_misspec"})
    run_dir = runs_dir / info.id
    save_run(runs_dir, info.model_copy(update={"status": status}), run_dir)
    return info.id, run_dir


def pending(run_dir: Path, run_id: str, kind: str = "ideas") -> str:
    return ApprovalStore(run_dir).ensure_pending(run_id, kind, f"gate:{kind}", "an idea", {"x": 1}).id


def _decide_in_process(runs_dir: str, approval_id: str, who: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        decide(Path(runs_dir), approval_id, Decision(action="approve"), who)
        results.put(("won", who))
    except ApprovalError as err:
        results.put(("lost", str(err)))


def test_concurrent_decisions_in_processes_exactly_one_wins(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_id, run_dir = waiting_run(runs_dir)
    approval_id = pending(run_dir, run_id)
    context = multiprocessing.get_context("fork")
    deciders = 6
    barrier, results = context.Barrier(deciders), context.Queue()
    processes = [
        context.Process(target=_decide_in_process, args=(str(runs_dir), approval_id, f"p{i}", barrier, results))
        for i in range(deciders)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    outcomes = [results.get(timeout=5) for _ in processes]
    winners = [who for verdict, who in outcomes if verdict == "won"]
    assert len(winners) == 1, outcomes
    assert all("already approved" in text for verdict, text in outcomes if verdict == "lost")
    approval = ApprovalStore(run_dir).get(approval_id)
    assert approval is not None and approval.status == "approved" and approval.decided_by == winners[0]
    decided = AuditLog(run_dir).find(kind="approval_decided")
    assert [record.actor for record in decided] == [f"human:{winners[0]}"]  # only the winner is audited
    assert verify(run_dir).ok


def test_concurrent_decisions_in_threads_exactly_one_wins(tmp_path: Path) -> None:
    run_id, run_dir = waiting_run(tmp_path / "runs")
    approval_id = pending(run_dir, run_id)
    barrier = threading.Barrier(8)
    wins: list[str] = []
    losses: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        action = "approve" if i % 2 else "reject"
        try:
            ApprovalStore(run_dir).decide(approval_id, Decision(action=action, reason="no"), f"t{i}")
            wins.append(f"t{i}")
        except ApprovalError as err:
            losses.append(str(err))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1 and len(losses) == 7


def test_decision_for_a_run_not_waiting_is_a_clear_error(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_id, run_dir = waiting_run(runs_dir, status="running")
    approval_id = pending(run_dir, run_id)
    with pytest.raises(ApprovalError, match="is not waiting for a decision"):
        decide(runs_dir, approval_id, Decision(action="approve"), "me")
    info, _ = load_run(runs_dir, run_id)
    save_run(runs_dir, info.model_copy(update={"status": "completed"}), run_dir)
    with pytest.raises(ApprovalError, match="status: completed"):
        decide(runs_dir, approval_id, Decision(action="approve"), "me")
    with pytest.raises(ApprovalError, match="no approval 'nope'"):
        decide(runs_dir, "nope", Decision(action="approve"), "me")


def test_decisions_must_fit_the_approval(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_id, run_dir = waiting_run(runs_dir)
    ideas = pending(run_dir, run_id, "ideas")
    code = pending(run_dir, run_id, "code")
    write = pending(run_dir, run_id, "write")
    budget = pending(run_dir, run_id, "budget")
    with pytest.raises(ApprovalError, match="needs a reason"):
        decide(runs_dir, ideas, Decision(action="reject"), "me")
    with pytest.raises(ApprovalError, match="cannot edit idea fields"):
        decide(runs_dir, ideas, Decision(action="edit", edit={"interestingness": "10"}), "me")
    with pytest.raises(Exception, match="no parameter"):
        decide(runs_dir, code, Decision(action="edit", edit={"not_a_param": "1"}), "me")
    with pytest.raises(ApprovalError, match="takes only feedback=TEXT"):
        decide(runs_dir, write, Decision(action="edit", edit={"x": "1"}), "me")
    with pytest.raises(ApprovalError, match="takes only feedback=TEXT"):
        decide(runs_dir, write, Decision(action="edit", edit={"feedback": "  "}), "me")
    with pytest.raises(ApprovalError, match="raise the budget or stop"):
        decide(runs_dir, budget, Decision(action="approve"), "me")
    with pytest.raises(ApprovalError, match="not a budget stop"):
        decide(runs_dir, ideas, Decision(action="approve", budget={"budget_usd": 9}), "me")
    assert all(a.status == "pending" for a in ApprovalStore(run_dir).all())  # nothing half-decided


class _State(TypedDict, total=False):
    answer: dict[str, Any]


def test_request_approval_interrupts_a_graph_and_resumes_with_the_decision(tmp_path: Path) -> None:
    """The hook monitors call: first pass interrupts (checkpoint kept), resume returns the human's decision."""
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command

    from scientist.approvals.gates import interrupted_approvals, resume_command

    runs_dir = tmp_path / "runs"
    run_id, run_dir = waiting_run(runs_dir)
    calls: list[str] = []
    ctx = SimpleNamespace(run_id=run_id, run_dir=run_dir, audit=AuditLog(run_dir), progress=lambda s, m: None)

    def flagged(state: _State) -> _State:
        calls.append("ran")
        decision = request_approval("monitor:shell", {"command": "rm -rf /"}, title="flagged command", ctx=ctx)  # type: ignore[arg-type]
        return {"answer": decision.model_dump()}

    graph_def = StateGraph(_State)
    graph_def.add_node("flagged", flagged)
    graph_def.add_edge(START, "flagged")
    graph_def.add_edge("flagged", END)
    config = {"configurable": {"thread_id": run_id}}
    with sqlite3.connect(run_dir / "g.sqlite", check_same_thread=False) as connection:
        graph = graph_def.compile(checkpointer=SqliteSaver(connection))
        graph.invoke({}, config)
        snapshot = graph.get_state(config)
        (approval,) = interrupted_approvals(snapshot, ApprovalStore(run_dir))
        assert approval.kind == "monitor:shell" and approval.status == "pending"
        assert snapshot.next == ("flagged",)
        with pytest.raises(Exception, match="waits for approval"):
            resume_command(ctx, snapshot)  # type: ignore[arg-type]
        decide(runs_dir, approval.id, Decision(action="reject", reason="destructive"), "alice")
        command = resume_command(ctx, graph.get_state(config))  # type: ignore[arg-type]
        assert isinstance(command, Command)
        result = graph.invoke(command, config)
    assert result["answer"]["action"] == "reject" and result["answer"]["reason"] == "destructive"
    assert len(ApprovalStore(run_dir).all()) == 1  # the re-executed node found its approval, asked nothing new
    assert calls == ["ran", "ran"]
    kinds = [record.kind for record in AuditLog(run_dir).records()]
    assert kinds.count("approval_requested") == 1 and kinds.count("approval_decided") == 1


def test_approve_mode_defaults_from_config_and_bad_values_are_clear(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.config import load_settings
    from scientist.errors import ConfigError

    assert load_settings().approve == "none"
    (isolated_env / "scientist.toml").write_text('approve = "code"\n')
    assert load_settings().approve == "code"
    monkeypatch.setenv("SCIENTIST_APPROVE", "all")
    assert load_settings().approve == "all"
    assert load_settings(approve="ideas").approve == "ideas"
    with pytest.raises(ConfigError, match="approve"):
        load_settings(approve="bogus")
