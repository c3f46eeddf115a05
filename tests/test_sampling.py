"""Best-of-n: every candidate kept, winner by score with ties to the lowest index, deterministic under concurrency."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.errors import BudgetExceededError
from scientist.llm.gateway import LLMGateway
from scientist.measure.sampling import (
    AllCandidatesFailedError,
    BestOfN,
    BestOfNResult,
    Candidate,
    Sampled,
    UnknownSelectorError,
    register_selector,
    resolve_selector,
)
from scientist.measure.stats import best_of_k_curve
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

WAIT_S = 30  # generous deadline for thread hand-offs; a hang fails the test instead of blocking the suite


class Draft(BaseModel):
    title: str
    score: int


def draft_for(index: int, seed: int) -> Draft:
    return Draft(title=f"draft {index}", score=(seed * 7) % 5)  # seeds 10..15 -> scores 0, 2, 4, 1, 3, 0


def comparable(result: BestOfNResult[Any]) -> list[dict[str, Any]]:
    """The deterministic part of a pool (latencies and wall time are not)."""
    return [c.model_dump(mode="json", exclude={"latency_s"}) for c in result.candidates]


def test_pool_keeps_every_candidate_with_its_seed_and_marks_one_winner() -> None:
    result = BestOfN(n=6, seed=10, selector="max_field:score").run(draft_for)
    assert [c.index for c in result.candidates] == list(range(6))
    assert [c.seed for c in result.candidates] == [10, 11, 12, 13, 14, 15]
    assert [c.score for c in result.candidates] == [0, 2, 4, 1, 3, 0]
    assert result.winner_index == 2 and result.winner.value == Draft(title="draft 2", score=4)
    assert [c.winner for c in result.candidates] == [False, False, True, False, False, False]
    assert result.scores() == [0, 2, 4, 1, 3, 0]
    assert result.selector == "max_field:score" and result.n == 6 and result.temperature is None


def test_ties_go_to_the_lowest_index() -> None:
    result = BestOfN(n=5, seed=0, selector=lambda draft: float(draft.score >= 1)).run(draft_for)
    # seeds 0..4 -> scores 0, 2, 4, 1, 3: indices 1..4 tie at 1.0
    assert result.winner_index == 1
    assert BestOfN(n=3, selector="first").run(draft_for).winner_index == 0


def test_result_does_not_depend_on_completion_order() -> None:
    """Force the reverse completion order (each draw waits for the next index to finish) and compare."""
    n = 5
    finished = [threading.Event() for _ in range(n)]

    def reverse_order(index: int, seed: int) -> Draft:
        if index + 1 < n:
            assert finished[index + 1].wait(WAIT_S), "draws did not run concurrently"
        finished[index].set()
        return draft_for(index, seed)

    concurrent = BestOfN(n=n, seed=10, selector="max_field:score", concurrency=n).run(reverse_order)
    sequential = BestOfN(n=n, seed=10, selector="max_field:score", concurrency=1).run(draft_for)
    assert comparable(concurrent) == comparable(sequential)
    assert concurrent.winner_index == sequential.winner_index == 2


def test_concurrency_is_capped_and_reached() -> None:
    active, peak = 0, 0
    lock = threading.Lock()
    barrier = threading.Barrier(3, timeout=WAIT_S)

    def tracked(index: int, seed: int) -> Draft:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        if index < 3:
            barrier.wait()  # the first three can only pass together: proves 3 ran at once
        with lock:
            active -= 1
        return draft_for(index, seed)

    BestOfN(n=9, concurrency=3, selector="first").run(tracked)
    assert peak == 3


def test_a_failing_candidate_is_recorded_and_the_others_go_on() -> None:
    def flaky(index: int, seed: int) -> Draft:
        if index == 2:
            raise ValueError(f"no draft for seed {seed}")
        return draft_for(index, seed)

    result = BestOfN(n=4, seed=10, selector="max_field:score", concurrency=2).run(flaky)
    failed = result.candidates[2]
    assert failed.error == "ValueError: no draft for seed 12" and failed.value is None and failed.score is None
    assert not failed.winner and result.winner_index == 1  # scores 0, 2, -, 1
    assert result.scores() == [0, 2, 1]


def test_all_failing_raises_with_the_whole_pool_attached() -> None:
    def broken(index: int, seed: int) -> Draft:
        raise RuntimeError(f"down {index}")

    first_error = "all 3 best-of-n candidates failed; the first: RuntimeError: down 0"
    with pytest.raises(AllCandidatesFailedError, match=first_error) as info:
        BestOfN(n=3, concurrency=3).run(broken)
    pool = info.value.result
    assert [c.error for c in pool.candidates] == [f"RuntimeError: down {i}" for i in range(3)]
    assert pool.winner_index is None


def test_a_spent_budget_stops_the_best_of_n() -> None:
    def over_budget(index: int, seed: int) -> Draft:
        if index == 1:
            raise BudgetExceededError("token budget reached")
        return draft_for(index, seed)

    with pytest.raises(BudgetExceededError):
        BestOfN(n=3, concurrency=1).run(over_budget)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_ctrl_c_in_a_draw_stops_the_best_of_n_and_starts_no_further_draw(concurrency: int) -> None:
    started: list[int] = []

    def draw(index: int, seed: int) -> float:
        started.append(index)
        if index == 0:
            raise KeyboardInterrupt
        threading.Event().wait(0.2)  # the later draws are still queued when the first one raises
        return float(seed)

    with pytest.raises(KeyboardInterrupt):
        BestOfN(n=8, selector=float, concurrency=concurrency).run(draw)
    # The queued draws were dropped: at most the first wave ran, plus the one the interrupted worker took at once.
    assert 0 in started and len(started) <= concurrency + (concurrency > 1)


def test_selector_failures_are_the_candidates_not_the_runs() -> None:
    def mixed(index: int, seed: int) -> dict[str, Any]:
        values: list[dict[str, Any]] = [
            {"r": {"overall": 3}},
            {"r": {"overall": "high"}},
            {"r": {"overall": float("nan")}},
        ]
        return values[index]

    result = BestOfN(n=3, selector="max_field:r.overall").run(mixed)
    assert result.candidates[0].score == 3 and result.winner_index == 0
    assert result.candidates[1].error == "selector: TypeError: field 'r.overall' is str, not a number"
    assert "non-finite score" in (result.candidates[2].error or "")
    assert result.candidates[1].value == {"r": {"overall": "high"}}  # the value is kept for inspection


def test_min_field_and_custom_registered_selectors() -> None:
    assert BestOfN(n=6, seed=10, selector="min_field:score").run(draft_for).winner_index == 0
    register_selector("title_length", lambda arg: lambda value: float(len(value.title)))
    assert resolve_selector("title_length")[0] == "title_length"


def test_unknown_or_malformed_selectors_fail_before_sampling() -> None:
    valid = "first, max_field:<name>, min_field:<name>"
    with pytest.raises(UnknownSelectorError, match=rf"unknown selector 'best'.*valid selectors: {valid}"):
        BestOfN(n=2, selector="best")
    with pytest.raises(UnknownSelectorError, match="needs a field name"):
        BestOfN(n=2, selector="max_field")
    with pytest.raises(ValueError):
        BestOfN(n=0)


def test_costs_are_kept_per_candidate_and_summed() -> None:
    def costed(index: int, seed: int) -> Sampled[Draft]:
        return Sampled(value=draft_for(index, seed), tokens=100 + index, cost_usd=0.01)

    result: BestOfNResult[Draft] = BestOfN(n=3, seed=10, selector="max_field:score").run(costed)
    assert [c.tokens for c in result.candidates] == [100, 101, 102]
    assert result.total_tokens == 303 and result.total_cost_usd == pytest.approx(0.03)
    assert result.winner.value == Draft(title="draft 2", score=4)


def test_pool_round_trips_through_json_for_the_statistics(tmp_path: Path) -> None:
    result = BestOfN(n=6, seed=10, temperature=0.8, selector="max_field:score", concurrency=3).run(draft_for)
    path = result.write_json(tmp_path / "pools" / "ideas.json")
    data = json.loads(path.read_text())
    assert data["candidates"][2] | {"latency_s": 0} == {
        "index": 2,
        "seed": 12,
        "value": {"title": "draft 2", "score": 4},
        "score": 4.0,
        "error": None,
        "tokens": None,
        "cost_usd": None,
        "latency_s": 0,
        "winner": True,
    }
    loaded = BestOfNResult.load(path)
    assert comparable(loaded) == comparable(result) and loaded.temperature == 0.8
    assert [Draft.model_validate(c.value) for c in loaded.candidates] == [c.value for c in result.candidates]
    curve = best_of_k_curve(loaded.scores(), confidence=None)
    assert curve[0].mean == pytest.approx(10 / 6) and curve[-1].mean == 4.0


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def test_unserialisable_values_are_written_as_their_repr(tmp_path: Path) -> None:
    result = BestOfN(n=1).run(lambda index, seed: Opaque())
    data = json.loads(result.write_json(tmp_path / "pool.json").read_text())
    assert data["candidates"][0]["value"] == "<opaque>"
    assert not Candidate(index=0, seed=0).scored


# -- with the real gateway --------------------------------------------------------------------------------------------
class Verdict(BaseModel):
    verdict: str
    score: int


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def gateway_settings(stub: OpenAIStub, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "api_base": stub.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": tmp_path / "store",
        "transient_retries": 0,
        "repair_retries": 0,
        "max_tokens": 200,
    }
    values.update(overrides)
    return Settings(**values)


def reply(score: int) -> ScriptedReply:
    content = json.dumps({"verdict": f"v{score}", "score": score})
    return ScriptedReply(content=content, prompt_tokens=100, completion_tokens=10)


def test_best_of_n_through_the_gateway_records_then_replays_the_same_pool(stub: OpenAIStub, tmp_path: Path) -> None:
    control = BestOfN(n=4, seed=100, temperature=0.9, selector="max_field:score", concurrency=1)
    variables = {"paper": "A tiny paper."}
    # Record, one draw at a time so the scripted replies meet the seeds in order.
    stub.replies = [reply(3), reply(8), ScriptedReply(content="not json"), reply(8)]
    recorder = LLMGateway(gateway_settings(stub, tmp_path, llm_mode="record"), AuditLog(tmp_path / "run1"))
    recorded = control.run_structured(recorder, "review", variables, Verdict, stage="review")
    assert [(r["seed"], r["temperature"]) for r in stub.requests] == [(100, 0.9), (101, 0.9), (102, 0.9), (103, 0.9)]
    assert recorded.winner_index == 1 and recorded.winner.value == Verdict(verdict="v8", score=8)  # 8 ties 8: lowest
    failed = recorded.candidates[2]
    assert failed.error is not None and failed.error.startswith("StructuredOutputError: 'review' gave no valid Verdict")
    # The failed draw's spend is kept (scripted at 50 + 20 tokens): compute-matched comparisons charge for it.
    assert [c.tokens for c in recorded.candidates] == [110, 110, 70, 110]
    assert all(c.cost_usd for c in recorded.candidates)
    # Replay concurrently with a dead provider: same pool, no request reaches the server.
    stub.requests.clear()
    dead = gateway_settings(stub, tmp_path, llm_mode="replay", api_base="http://127.0.0.1:9/v1")
    replayer = LLMGateway(dead, AuditLog(tmp_path / "run2"))
    replayed = control.model_copy(update={"concurrency": 4}).run_structured(
        replayer, "review", variables, Verdict, stage="review"
    )
    assert stub.requests == []
    assert comparable(replayed) == comparable(recorded)
    calls = replayer.audit.find(kind="llm_call") if replayer.audit else []
    assert sorted((c.payload["seed"], c.payload["sample_index"]) for c in calls) == [(100 + i, i) for i in range(4)]


def test_concurrent_live_draws_each_carry_their_own_seed_and_temperature(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [reply(5) for _ in range(6)]
    gateway = LLMGateway(gateway_settings(stub, tmp_path))
    result = BestOfN(n=6, seed=40, temperature=0.3, selector="max_field:score", concurrency=6).run_structured(
        gateway, "review", {"paper": "p"}, Verdict, stage="review"
    )
    assert sorted(r["seed"] for r in stub.requests) == list(range(40, 46))
    assert {r["temperature"] for r in stub.requests} == {0.3}
    assert result.winner_index == 0 and all(c.tokens is None for c in result.candidates)  # no audit log: unknown


def test_rescore_scores_a_drawn_pool_again_keeping_failures_and_exclusions() -> None:
    from scientist.measure.sampling import rescore

    def flaky(index: int, seed: int) -> Draft:
        if index == 1:
            raise ValueError("model said nothing")
        return draft_for(index, seed)

    drawn = BestOfN(n=4, seed=10, selector="first").run(flaky)  # scores 0, -, 4, 1 by max_field:score
    assert drawn.winner_index == 0
    scored = rescore(drawn, "max_field:score", excluded={2: "not novel"})
    assert [c.score for c in scored.candidates] == [0.0, None, None, 1.0]
    assert scored.candidates[1].error == "ValueError: model said nothing"
    assert scored.candidates[2].error == "excluded: not novel" and scored.winner_index == 3
    assert [c.winner for c in scored.candidates] == [False, False, False, True]
    assert scored.selector == "max_field:score" and drawn.winner_index == 0  # the drawn pool is not modified
    again = rescore(scored, "max_field:score")  # an exclusion is not permanent: rescoring without it frees it
    assert again.winner_index == 2

    def budget(value: Draft) -> float:
        raise BudgetExceededError("spent")

    with pytest.raises(BudgetExceededError):
        rescore(drawn, budget)
    with pytest.raises(AllCandidatesFailedError) as raised:
        rescore(drawn, "max_field:score", excluded={0: "x", 2: "x", 3: "x"})
    assert raised.value.result.winner_index is None and len(raised.value.result.candidates) == 4
