"""The edit→run→fix loop end to end: scripted model replies (loopback OpenAI stub, real litellm path), the real
sandbox, the real audit log. Recorded replies then replay the same loop with no model at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog, verify
from scientist.config import Settings
from scientist.context import RunContext
from scientist.llm.gateway import LLMGateway
from scientist.sandbox import get_sandbox
from scientist.stages.experiment import run_experiments
from scientist.template import load_template
from tests.conftest import quick_sandbox
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

IDEA = {
    "title": "Blending the true reward in",
    "hypothesis": "A higher true-reward weight lowers gaming.",
    "experiment_plan": "Raise true_reward_weight_in_proxy.",
    "risks": "none",
}


def block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


GOOD_EDIT = block("config.json", '  "true_reward_weight_in_proxy": 0.0', '  "true_reward_weight_in_proxy": 1.0')
BREAKING_EDIT = block("config.json", '  "gamma": 0.95,', '  "gamma": 0.95,\n  "gama": 0.5,')
FIX_EDIT = block("config.json", '  "gama": 0.5,', "")
PROTECTED_EDIT = block("experiment.py", "GOAL_REWARD = 1.0", "GOAL_REWARD = 100.0")
PLAN = json.dumps({"rationale": "blend the true reward in", "changes": [{"param": "coin_reward", "value": 0.0}]})


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def context(tmp_path: Path, stub: OpenAIStub, store: Path, mode: str = "record", **knobs: Any) -> RunContext:
    values: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "api_base": stub.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": store,
        "llm_mode": mode,
        "transient_retries": 0,
        "sandbox": quick_sandbox(),
        # The loop is under test here, called without a graph: a high monitor finding (e.g. the typo key below) is
        # logged rather than sent to a human (tests/test_monitors_dynamic.py covers that path).
        "monitor_policy": {"high": "log"},
        # The loop as the embedded model runs it on the default template: config mode (config.json only, one seed;
        # experiment.py is the agent's code under contract v2, which config mode names protected and refuses).
        "edit_mode": "config",
        **knobs,
    }
    settings = Settings(**values)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="test-run",
        run_dir=run_dir,
        settings=settings,
        audit=audit,
        gateway=LLMGateway(settings, audit),
        sandbox=get_sandbox(settings.sandbox, run_label="test-run"),
        template=load_template("reward_misspec"),
    )


def by_label(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["label"]: record for record in records}


def test_successful_edit_runs_and_is_audited(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content="Here you go:\n```\n" + GOOD_EDIT + "```")]
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=1, fix_attempts=1)
    records = by_label(run_experiments(ctx, IDEA))
    assert set(records) == {"baseline", "run_1"}  # the edited run worked: no config-only fallback
    run = records["run_1"]
    assert run["ok"] and run["overrides"] == {"true_reward_weight_in_proxy": 1.0} and len(run["attempts"]) == 1
    final = json.loads((ctx.run_dir / run["final_info_path"]).read_text())
    baseline = json.loads((ctx.run_dir / records["baseline"]["final_info_path"]).read_text())
    assert final["config"]["true_reward_weight_in_proxy"] == 1.0
    assert final["metrics"]["true_return"] > baseline["metrics"]["true_return"]  # the edit reached the sandbox
    assert run["metric"] == final["metrics"]["true_return"]
    applied = ctx.audit.find(kind="edit_applied")
    assert (
        len(applied) == 1
        and '+  "true_reward_weight_in_proxy": 1.0' in ctx.audit.blob_path(applied[0].payload["diff_blob"]).read_text()
    )
    notes = (ctx.run_dir / "experiments" / "notes.md").read_text()
    assert "## run_1" in notes and f"true_return = {final['metrics']['true_return']:.3f}" in notes
    assert verify(ctx.run_dir).ok


def test_broken_edit_is_fixed_from_the_error(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=BREAKING_EDIT), ScriptedReply(content=FIX_EDIT)]
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=1, fix_attempts=2)
    run = by_label(run_experiments(ctx, IDEA))["run_1"]
    assert run["ok"] and [a["ok"] for a in run["attempts"]] == [False, True]
    assert run["attempts"][0]["exit_code"] == 2
    fix_request = stub.requests[1]["messages"][-1]["content"]
    assert "unknown config keys ['gama']" in fix_request and '"gama": 0.5' in fix_request  # error + current file
    assert run["overrides"] == {}  # the fix removed the bad key again
    flagged = [e.payload["rule"] for e in ctx.audit.find(kind="monitor_event")]
    assert "config_unknown_keys" in flagged  # the monitors watched every attempt


def test_edit_to_a_protected_file_is_refused_and_audited(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=PROTECTED_EDIT), ScriptedReply(content=GOOD_EDIT)]
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=1, fix_attempts=1)
    run = by_label(run_experiments(ctx, IDEA))["run_1"]
    refused = ctx.audit.find(kind="edit_refused")
    assert len(refused) == 1 and refused[0].payload["path"] == "experiment.py"
    assert "protected" in refused[0].payload["reason"]
    assert not run["attempts"][0]["ran"] and run["attempts"][0]["edit"]["problems"][0]["kind"] == "refused"
    assert "experiment.py is protected" in stub.requests[1]["messages"][-1]["content"]
    workspace = ctx.run_dir / "experiments" / "run_1" / "attempt_1" / "workspace"
    assert "GOAL_REWARD = 1.0" in (workspace / "experiment.py").read_text()
    assert run["ok"]


def test_edit_that_never_works_stops_after_f_attempts_and_falls_back(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content="I would change gamma.")] * 3 + [ScriptedReply(content=PLAN)]
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=1, fix_attempts=2)
    records = by_label(run_experiments(ctx, IDEA))
    run = records["run_1"]
    assert not run["ok"] and len(run["attempts"]) == 3 and "gave up after 3 attempts" in run["failure"]
    assert "no SEARCH/REPLACE block" in run["failure"]
    assert len(stub.requests) == 4  # 1 + F edit calls, then one config-only plan
    assert records["variant"]["ok"] and records["variant"]["overrides"] == {"coin_reward": 0.0}
    assert ctx.audit.find(kind="experiment_run_failed") and ctx.audit.find(kind="experiment_fallback")
    assert "- result: failed — gave up after 3 attempts" in (ctx.run_dir / "experiments" / "notes.md").read_text()


def test_recorded_loop_replays_without_a_model(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=BREAKING_EDIT), ScriptedReply(content=FIX_EDIT)]
    store = tmp_path / "store"
    first = by_label(run_experiments(context(tmp_path / "a", stub, store, experiment_runs=1), IDEA))
    calls = len(stub.requests)
    replay = context(tmp_path / "b", stub, store, mode="replay", experiment_runs=1)
    again = by_label(run_experiments(replay, IDEA))
    assert len(stub.requests) == calls  # nothing reached the model
    assert again["run_1"]["ok"] and [a["ok"] for a in again["run_1"]["attempts"]] == [False, True]
    assert again["run_1"]["config"] == first["run_1"]["config"]


def test_tree_search_expands_the_best_node_and_prunes_buggy_ones(tmp_path: Path, stub: OpenAIStub) -> None:
    gamma = block("config.json", '  "gamma": 0.95,', '  "gamma": 0.6,')
    stub.replies = [
        ScriptedReply(content=GOOD_EDIT),  # node_1: a large improvement
        ScriptedReply(content=gamma),  # node_2: no improvement
        ScriptedReply(content=BREAKING_EDIT),  # node_3 (child of node_1): broken and never fixed → pruned
        ScriptedReply(content="no blocks"),
        ScriptedReply(content=block("config.json", '  "epsilon": 0.1,', '  "epsilon": 0.05,')),  # node_4
    ]
    ctx = context(tmp_path, stub, tmp_path / "store", search="tree", tree_breadth=2, tree_depth=2, fix_attempts=1)
    records = by_label(run_experiments(ctx, IDEA))
    assert set(records) == {"baseline", "node_1", "node_2", "node_3", "node_4"}
    assert records["node_3"]["parent"] == "node_1" and records["node_4"]["parent"] == "node_1"
    assert records["node_3"]["depth"] == 2 and not records["node_3"]["ok"]
    assert records["node_4"]["config"]["true_reward_weight_in_proxy"] == 1.0  # inherited its parent's code
    tree = json.loads((ctx.run_dir / "experiments" / "tree.json").read_text())
    status = {node["label"]: node["status"] for node in tree["nodes"]}
    assert status == {
        "baseline": "expanded",
        "node_1": "expanded",
        "node_2": "leaf",
        "node_3": "pruned",
        "node_4": "leaf",
    }
    assert tree["metric"] == "true_return" and tree["best"] in {"node_1", "node_4"}
    for label in records:
        assert (ctx.run_dir / "experiments" / label / "result.json").exists()  # every node kept


def test_config_only_mode_and_finished_runs_are_skipped_on_resume(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=PLAN)]
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=0)
    first = run_experiments(ctx, IDEA)
    assert [r["label"] for r in first] == ["baseline", "variant"] and first[1]["overrides"] == {"coin_reward": 0.0}
    assert run_experiments(ctx, IDEA) == first  # a resumed stage re-reads result.json: no model call, no sandbox run
    assert len(stub.requests) == 1
    assert {r.payload["label"] for r in ctx.audit.find(kind="sandbox_run_skipped")} == {"baseline", "variant"}
