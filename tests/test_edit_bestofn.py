"""Best-of-n at the experiment stage (`edit_n`): n candidate edit→run→fix runs per planned run, each in the real
sandbox, the winner by the metric the harness read from the run's outputs; scripted edits (loopback OpenAI stub)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.commands.dryrun import _calls
from scientist.config import Settings
from scientist.stages.edits import SEED_BAND, SEED_STEP
from scientist.stages.experiment import run_experiments
from tests.openai_stub import OpenAIStub, ScriptedReply, serve
from tests.test_experiment_loop import BREAKING_EDIT, IDEA, block, by_label, context

HALF = block("config.json", '  "true_reward_weight_in_proxy": 0.0', '  "true_reward_weight_in_proxy": 0.5')
FULL = block("config.json", '  "true_reward_weight_in_proxy": 0.0', '  "true_reward_weight_in_proxy": 1.0')


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def measured(ctx: Any, record: dict[str, Any]) -> float:
    """The primary metric as the harness reads it: the run's own final_info.json, not anything the model said."""
    info = json.loads((ctx.run_dir / record["final_info_path"]).read_text())
    return float(info["metrics"][ctx.template.primary_metric])


def test_the_best_of_n_edit_runs_wins_by_the_measured_metric_and_is_charged(
    tmp_path: Path,
    stub: OpenAIStub,
) -> None:
    # The model claims candidate 0 is the best run; only the measurement decides.
    claim = "This is clearly the best change, true_return will be 99.\n"
    stub.replies = [ScriptedReply(content=claim + HALF), ScriptedReply(content=FULL),
                    ScriptedReply(content=BREAKING_EDIT)]  # fmt: skip
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=1, fix_attempts=0, edit_n=3)
    records = run_experiments(ctx, IDEA)
    assert len(stub.requests) == 3  # three candidates, one edit call each (F = 0), no fallback plan
    runs = ctx.run_dir / "experiments"
    candidates = [json.loads((runs / f"run_1_c{i}" / "result.json").read_text()) for i in range(3)]
    assert [c["ok"] for c in candidates] == [True, True, False]
    metrics = [measured(ctx, c) for c in candidates[:2]]
    assert metrics[0] != metrics[1]  # a real choice, not a tie
    best = max(range(2), key=lambda i: metrics[i])
    assert [r["label"] for r in records] == ["baseline", f"run_1_c{best}"]  # only the winner goes on (and into notes)

    pool = json.loads((ctx.run_dir / "candidates" / "edit_run_1.json").read_text())
    assert pool["status"] == "selected" and pool["selector"] == "metric" and pool["n"] == 3
    assert pool["winner_index"] == best
    assert [c["score"] for c in pool["candidates"][:2]] == metrics  # true_return: higher is better
    assert pool["candidates"][2]["score"] is None  # its run failed, and its unknown config key is a high flag:
    assert "excluded by monitors" in pool["candidates"][2]["error"] and pool["excluded"][0]["index"] == 2
    seeds = [ctx.settings.seed + (1 + i * SEED_STEP) % SEED_BAND for i in range(3)]
    assert [request["seed"] for request in stub.requests] == seeds == [c["seed"] for c in pool["candidates"]]
    calls = ctx.audit.find(kind="llm_call")
    assert [c["tokens"] for c in pool["candidates"]] == [call.payload["total_tokens"] for call in calls]
    assert ctx.gateway.spend.calls == 3 and all(c["tokens"] for c in pool["candidates"])  # every candidate charged
    (audited,) = ctx.audit.find(kind="best_of_n")
    assert audited.payload["stage"] == "edit_run_1" and audited.payload["winner_index"] == best
    (selected,) = ctx.audit.find(kind="edit_selected")
    assert selected.payload["label"] == f"run_1_c{best}"

    again = run_experiments(ctx, IDEA)  # a resumed run: finished candidates are not run or asked for again
    assert [r["label"] for r in again] == [r["label"] for r in records] and len(stub.requests) == 3
    repeat = json.loads((ctx.run_dir / "candidates" / "edit_run_1.json").read_text())
    assert [c["tokens"] for c in repeat["candidates"]] == [c["tokens"] for c in pool["candidates"]]


def test_the_search_goes_on_from_the_winner_and_a_step_whose_candidates_all_fail_is_one_failed_run(
    tmp_path: Path,
    stub: OpenAIStub,
) -> None:
    stub.replies = [ScriptedReply(content=BREAKING_EDIT), ScriptedReply(content=FULL),  # run 1: candidate 1 wins
                    ScriptedReply(content="no edit"), ScriptedReply(content="still none")]  # fmt: skip
    ctx = context(tmp_path, stub, tmp_path / "store", experiment_runs=2, fix_attempts=0, edit_n=2)
    records = by_label(run_experiments(ctx, IDEA))
    assert set(records) == {"baseline", "run_1_c1", "run_2_c0"}
    assert records["run_1_c1"]["ok"] and not records["run_2_c0"]["ok"]
    assert records["run_2_c0"]["parent"] == "run_1_c1"  # run 2's candidates start from run 1's winner
    second = json.dumps(stub.requests[2]["messages"])
    assert "run_1_c1" in second and "- run_1_c1: config true_reward_weight_in_proxy=1.0" in second  # and see its result
    pool = json.loads((ctx.run_dir / "candidates" / "edit_run_2.json").read_text())
    assert pool["status"] == "no_winner" and pool["winner_index"] is None
    assert ctx.audit.find(kind="edit_selected")[-1].payload["candidate"] is None


def test_edit_n_defaults_to_one_run_per_step_and_the_dry_run_counts_the_candidates() -> None:
    assert Settings().edit_n == 1
    one, three = (_calls(Settings(experiment_runs=2, fix_attempts=1, edit_n=n))["experiment"] for n in (1, 3))
    assert one == 1 + 2 * 2 and three == 1 + 2 * 2 * 3
