"""selector = tournament: the Bradley-Terry fit against hand-computed values, the schedule, position bias, failures,
and the selector in the pipeline's selection step against the loopback OpenAI stub (real gateway, real audit)."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.config import Settings, load_settings
from scientist.context import RunContext
from scientist.errors import ConfigError, StructuredOutputError
from scientist.llm.gateway import LLMGateway
from scientist.measure.sampling import BestOfN, UnknownSelectorError, rescore, selector_names
from scientist.measure.tournament import (
    Judgement,
    bradley_terry,
    comparisons_needed,
    run_tournament,
    swiss_pairs,
)
from scientist.template import load_template
from tests.openai_stub import OpenAIStub, ScriptedReply, serve


# -- the Bradley-Terry fit --------------------------------------------------------------------------------------------
def test_two_players_without_prior_rate_at_the_ratio_of_their_wins() -> None:
    # MLE: p0 / p1 = 3 / 1; normalised to a geometric mean of 1: p0 = sqrt 3, p1 = 1 / sqrt 3.
    games = [(0, 1, 1.0)] * 3 + [(0, 1, 0.0)]
    ratings = bradley_terry(2, games, prior=0)
    assert ratings == pytest.approx([math.log(3) / 2, -math.log(3) / 2], abs=1e-9)


def test_three_players_without_prior_match_the_hand_solved_strengths() -> None:
    # Strengths (4, 2, 1) satisfy W_i = sum_j n_ij p_i / (p_i + p_j) for this record: 0 beats 1 2-1, 1 beats 2 2-1,
    # 0 beats 2 4-1 (check: W_0 = 6 = 3*4/6 + 5*4/5; W_1 = 3 = 3*2/6 + 3*2/3; W_2 = 2 = 5*1/5 + 3*1/3).
    # Geometric mean 2, so the log-strengths are ln 2, 0, -ln 2.
    games = [(0, 1, 1.0)] * 2 + [(1, 0, 1.0)] + [(1, 2, 1.0)] * 2 + [(2, 1, 1.0)] + [(0, 2, 1.0)] * 4 + [(2, 0, 1.0)]
    assert bradley_terry(3, games, prior=0) == pytest.approx([math.log(2), 0.0, -math.log(2)], abs=1e-8)


def test_the_prior_keeps_an_undefeated_candidate_finite_at_the_hand_derived_root() -> None:
    # prior = 2: each player also won 1 and lost 1 against the reference (strength 1). One game, 0 beats 1.
    # By symmetry p1 = 1 / p0 = 1 / x, and player 0's equation 2 = x^2/(x^2+1) + 2x/(x+1) reduces to x^3 - x^2 - 2 = 0.
    p0, p1 = (math.exp(r) for r in bradley_terry(2, [(0, 1, 1.0)], prior=2))
    assert p0**3 - p0**2 - 2 == pytest.approx(0, abs=1e-9) and p0 == pytest.approx(1.69562, abs=1e-5)
    assert p1 == pytest.approx(1 / p0, abs=1e-9)
    with pytest.raises(ValueError, match="prior > 0"):
        bradley_terry(2, [(0, 1, 1.0)], prior=0)  # the MLE does not exist


def test_ties_and_a_balanced_record_rate_everyone_equal() -> None:
    assert bradley_terry(3, [(0, 1, 0.5), (1, 2, 0.5), (0, 2, 0.5)]) == pytest.approx([0, 0, 0], abs=1e-9)
    assert bradley_terry(2, [(0, 1, 1.0), (1, 0, 1.0)]) == pytest.approx([0, 0], abs=1e-9)
    assert bradley_terry(2, []) == [0.0, 0.0]  # never compared: the reference's strength


# -- the tournament ---------------------------------------------------------------------------------------------------
def kendall_tau(ranking: list[int], truth: list[int]) -> float:
    position = {item: place for place, item in enumerate(truth)}
    pairs = list(combinations(ranking, 2))
    concordant = sum(1 for a, b in pairs if position[a] < position[b])
    return (2 * concordant - len(pairs)) / len(pairs)


def ranked(ratings: dict[int, float]) -> list[int]:
    return sorted(ratings, key=lambda index: (-ratings[index], index))


def by_quality(quality: dict[int, float]) -> Callable[[int, int, int], Judgement]:
    def compare(first: int, second: int, number: int) -> Judgement:
        return Judgement(outcome="first" if quality[first] > quality[second] else "second")

    return compare


def always_first(first: int, second: int, number: int) -> Judgement:
    return Judgement(outcome="first", reason="A is shown first")


def test_a_model_that_always_prefers_the_first_position_gives_no_candidate_an_advantage() -> None:
    result = run_tournament(range(5), always_first)
    assert result.schedule == "all_pairs" and len(result.comparisons) == 5 * 4 == comparisons_needed(
        5, all_pairs_max=6, rounds=3
    )
    assert result.first_position_wins == 20 and result.second_position_wins == 0
    assert list(result.ratings.values()) == pytest.approx([0.0] * 5, abs=1e-9)  # every pair split 1-1
    pairs = [(c.first, c.second) for c in result.comparisons]
    assert all((b, a) in pairs for a, b in pairs)  # each pair asked in both orders


def test_a_first_position_bias_without_the_swap_would_have_decided() -> None:
    """Contrast: counting only (a, b) with a < b, the same comparer makes index 0 the winner; the swap cancels it."""
    result = run_tournament(range(4), always_first)
    one_order = [c for c in result.comparisons if c.first < c.second]
    games = [(c.first, c.second, 1.0) for c in one_order]
    biased = bradley_terry(4, games)
    assert ranked(dict(enumerate(biased)))[0] == 0 and biased[0] > biased[3] + 1
    assert max(result.ratings.values()) - min(result.ratings.values()) < 1e-9


def test_a_consistent_preference_order_is_recovered_exactly() -> None:
    quality = {0: 1.0, 1: 5.0, 2: 3.0, 3: 4.0, 4: 2.0}
    result = run_tournament(range(5), by_quality(quality))
    assert ranked(result.ratings) == [1, 3, 2, 4, 0]
    assert result.failed == 0 and result.ties == 0


def logistic_comparer(n: int, seed: int, position_bias: float) -> Callable[[int, int, int], Judgement]:
    """A noisy scripted comparer: candidate i has quality -i (0 is best); the better one wins with probability
    1 / (1 + e^-gap) (0.73 for neighbours), and in a `position_bias` share of the calls A wins whatever it is."""
    rng = random.Random(seed)

    def compare(first: int, second: int, number: int) -> Judgement:
        if rng.random() < position_bias:
            return Judgement(outcome="first")
        p_first = 1 / (1 + math.exp(-(second - first)))
        return Judgement(outcome="first" if rng.random() < p_first else "second")

    return compare


def test_a_noisy_comparer_over_all_pairs_recovers_the_order() -> None:
    taus = [kendall_tau(ranked(run_tournament(range(6), logistic_comparer(6, seed, 0.0)).ratings), list(range(6)))
            for seed in range(20)]  # fmt: skip
    assert min(taus) >= 0.8


def test_swiss_rounds_bound_the_calls_and_recover_a_noisy_position_biased_order() -> None:
    """12 candidates (above all_pairs_max): 6 Swiss rounds of 2 * 6 calls; a noisy comparer that also picks A in 15%
    of its calls still yields the order on average (Kendall tau >= 0.8 over 20 scripted tournaments)."""
    taus = []
    for seed in range(20):
        result = run_tournament(range(12), logistic_comparer(12, seed, 0.15), all_pairs_max=6, rounds=6)
        assert result.schedule == "swiss" and len(result.comparisons) == 6 * 2 * 6
        assert len(result.comparisons) == comparisons_needed(12, all_pairs_max=6, rounds=6)
        taus.append(kendall_tau(ranked(result.ratings), list(range(12))))
    assert sum(taus) / len(taus) >= 0.8


def test_swiss_pairs_adjacent_ratings_and_avoid_rematches() -> None:
    ratings = {0: 0.1, 1: 0.9, 2: 0.5, 3: 0.7, 4: -1.0}
    assert swiss_pairs(list(ratings), ratings, set()) == [(1, 3), (2, 0)]  # 4, the lowest, sits out
    assert swiss_pairs(list(ratings), ratings, {frozenset((1, 3))}) == [(1, 2), (3, 0)]


def test_a_failed_comparison_is_recorded_and_counted_and_others_still_decide() -> None:
    quality = {0: 1.0, 1: 3.0, 2: 2.0}

    def flaky(first: int, second: int, number: int) -> Judgement:
        if number == 2:
            raise StructuredOutputError("the answer stayed invalid after 0 repairs")
        return by_quality(quality)(first, second, number)

    result = run_tournament(range(3), flaky, failures=(StructuredOutputError,))
    assert result.failed == 1 and len(result.comparisons) == 6
    failed = result.comparisons[2]
    assert failed.outcome is None and failed.error is not None and failed.error.startswith("StructuredOutputError")
    assert ranked(result.ratings) == [1, 2, 0]


def test_an_error_that_is_not_a_tolerated_failure_propagates() -> None:
    def broken(first: int, second: int, number: int) -> Judgement:
        raise KeyError("a bug, not a bad answer")

    with pytest.raises(KeyError):
        run_tournament(range(3), broken, failures=(StructuredOutputError,))


# -- the selector registry -------------------------------------------------------------------------------------------
def test_tournament_is_a_registered_pool_selector_that_needs_a_ranker() -> None:
    assert "tournament" in selector_names()
    with pytest.raises(UnknownSelectorError) as raised:
        BestOfN(n=3, selector="tournament")
    assert "ranker" in str(raised.value)
    values = [{"q": 2}, {"q": 7}, {"q": 5}]

    def ranker(pool: Any) -> dict[int, float]:
        return run_tournament(list(pool), by_quality({i: v["q"] for i, v in pool.items()})).ratings

    result = BestOfN(n=3, selector="tournament", ranker=ranker).run(lambda index, seed: values[index])
    assert result.winner_index == 1 and result.selector == "tournament"
    again = rescore(result, "tournament", ranker=ranker, excluded={1: "filtered"})
    assert again.winner_index == 2 and again.candidates[1].score is None


def test_stage_settings_accept_tournament_and_reject_unknown_selectors() -> None:
    settings = load_settings(ideas_selector="tournament", plan_selector="tournament", draft_selector="tournament")
    assert (settings.ideas_selector, settings.plan_selector, settings.draft_selector) == ("tournament",) * 3
    with pytest.raises(ConfigError):
        load_settings(draft_selector="elo")
    with pytest.raises(ConfigError):
        load_settings(tournament_all_pairs_max=1)


def test_the_dry_run_estimate_counts_the_comparisons() -> None:
    from scientist.commands.dryrun import _calls

    base = _calls(load_settings(num_ideas=4))["ideation"]
    assert _calls(load_settings(num_ideas=4, ideas_selector="tournament"))["ideation"] == base + 12
    drafts = load_settings(draft_n=8, draft_selector="tournament", tournament_rounds=2)
    assert _calls(drafts)["writeup"] == _calls(load_settings(draft_n=8, draft_selector="first"))["writeup"] + 16


# -- in the pipeline's selection step, against the loopback OpenAI stub ---------------------------------------------
QUALITY = re.compile(r"=== (A|B) ===\nTitle: Idea of quality (\d+)")


class Comparer:
    """Answers `Preference` requests: by the quality number in each shown title, or always "A"; one can be garbage."""

    def __init__(self, rule: str, garbage_at: int | None = None) -> None:
        self.rule, self.garbage_at, self.asked = rule, garbage_at, 0

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        name = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        assert name == "Preference", name
        self.asked += 1
        if self.garbage_at is not None and self.asked == self.garbage_at + 1:
            return ScriptedReply(content="I cannot decide.")
        shown = dict(QUALITY.findall(request["messages"][1]["content"]))
        better = "A" if self.rule == "first" or int(shown["A"]) > int(shown["B"]) else "B"
        return ScriptedReply(content=json.dumps({"reasoning": f"{better} is better", "better": better}))


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def context(stub: OpenAIStub, tmp_path: Path, **overrides: Any) -> RunContext:
    settings = Settings(
        model="openai/gpt-4o-mini", api_base=stub.base_url, api_key="sk-test-not-a-real-key-0000",
        llm_cache_dir=tmp_path / "llm-cache", transient_retries=0, repair_retries=0, max_tokens=200,
        ideas_selector="tournament", novelty_policy="off", **overrides,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="run", run_dir=run_dir, settings=settings, audit=audit, gateway=LLMGateway(settings, audit),
        sandbox=None, template=load_template("reward_misspec"),  # type: ignore[arg-type]
    )  # fmt: skip


def ideas(qualities: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "title": f"Idea of quality {quality}",
            "hypothesis": "The agent learns the proxy reward.",
            "experiment_plan": "Vary the coin respawn delay.",
            "risks": "Small effect.",
            "interestingness": 10 - quality,
            "feasibility": 5,  # self-ratings point the other way
        }
        for index, quality in enumerate(qualities)
    ]


def pool(ctx: RunContext) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ctx.run_dir / "candidates" / "ideas.json").read_text())
    return data


def test_the_idea_tournament_picks_the_preferred_idea_and_keeps_and_audits_every_comparison(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    from scientist.stages.ideation import select_idea

    stub.responder = Comparer("quality")
    ctx = context(stub, tmp_path)
    winner, rule = select_idea(ctx, ideas([2, 9, 4, 6]), None)
    assert winner["index"] == 1 and "Bradley-Terry" in rule  # self_rating would have picked index 0
    data = pool(ctx)
    assert data["selector"] == "tournament" and data["winner_index"] == 1
    tournament = data["tournament"]
    assert tournament["schedule"] == "all_pairs" and len(tournament["comparisons"]) == 12 and tournament["failed"] == 0
    scores = [c["score"] for c in data["candidates"]]
    assert ranked(dict(enumerate(scores))) == [1, 3, 2, 0]  # the full preference order, not just the winner
    calls = [r.payload for r in ctx.audit.find(kind="llm_call")]
    assert [c["prompt_template"] for c in calls] == ["tournament_compare"] * 12
    assert {c["stage"] for c in calls} == {"ideas.tournament"} and {c["role"] for c in calls} == {"ideation"}
    (record,) = ctx.audit.find(kind="tournament")
    assert record.payload["comparisons"] == 12 and record.payload["stage"] == "ideas"
    (best_of_n,) = ctx.audit.find(kind="best_of_n")
    assert best_of_n.payload["winner_index"] == 1 and best_of_n.payload["selector"] == "tournament"


def test_a_first_position_model_in_the_pipeline_leaves_every_idea_tied(stub: OpenAIStub, tmp_path: Path) -> None:
    from scientist.stages.ideation import select_idea

    stub.responder = Comparer("first")
    ctx = context(stub, tmp_path)
    winner, _ = select_idea(ctx, ideas([2, 9, 4]), None)
    data = pool(ctx)
    assert data["tournament"]["first_position_wins"] == 6
    assert {round(c["score"], 9) for c in data["candidates"]} == {0.0}
    assert winner["index"] == 0  # all tied: the lowest index, as every selector's tie rule


def test_a_garbage_comparison_is_a_counted_failure_not_the_end_of_the_selection(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    from scientist.stages.ideation import select_idea

    stub.responder = Comparer("quality", garbage_at=0)
    ctx = context(stub, tmp_path)
    winner, _ = select_idea(ctx, ideas([2, 9, 4]), None)
    assert winner["index"] == 1
    tournament = pool(ctx)["tournament"]
    assert tournament["failed"] == 1 and tournament["comparisons"][0]["outcome"] is None
    assert "StructuredOutputError" in tournament["comparisons"][0]["error"]
    (record,) = ctx.audit.find(kind="tournament")
    assert record.payload["failed"] == 1


def test_one_eligible_idea_wins_without_a_comparison(stub: OpenAIStub, tmp_path: Path) -> None:
    from scientist.stages.ideation import select_idea

    stub.responder = Comparer("quality")
    ctx = context(stub, tmp_path)
    drawn = ideas([2, 9])
    winner, _ = select_idea(ctx, drawn, [drawn[0]])
    assert winner["index"] == 0 and not stub.requests and "tournament" not in pool(ctx)


PLAN_QUALITY = re.compile(r"=== (A|B) ===\nRationale: plan of quality (\d+)")
DRAFT_QUALITY = re.compile(r"=== (A|B) ===\n# Draft of quality (\d+)")


class ShownComparer:
    """Prefers the higher quality number that `pattern` finds in each shown candidate."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        shown = dict(self.pattern.findall(request["messages"][1]["content"]))
        better = "A" if int(shown["A"]) > int(shown["B"]) else "B"
        return ScriptedReply(content=json.dumps({"reasoning": "clearer", "better": better}))


def test_the_plan_and_draft_tournaments_show_each_stage_its_own_candidates(stub: OpenAIStub, tmp_path: Path) -> None:
    from scientist.measure.sampling import BestOfN
    from scientist.stages import bestofn
    from scientist.stages.tournament import draft_ranker, plan_ranker

    ctx = context(stub, tmp_path)
    plans = [
        {"candidate": i, "rationale": f"plan of quality {q}", "applied": {"lr": q}} for i, q in enumerate([1, 8, 3])
    ]
    stub.responder = ShownComparer(PLAN_QUALITY)
    pool = BestOfN(n=3, selector=lambda v: 0.0).run(lambda index, seed: plans[index])
    scored = bestofn.select(ctx, "plan", pool, "tournament", lambda v: 0.0, ranker=plan_ranker(ctx, "plan"))
    assert scored.winner_index == 1
    assert {r.payload["stage"] for r in ctx.audit.find(kind="llm_call")} == {"plan.tournament"}
    assert {r.payload["role"] for r in ctx.audit.find(kind="llm_call")} == {"experiment"}

    drafts = []
    for index, quality in enumerate([5, 2, 7]):
        folder = ctx.run_dir / "candidates" / f"draft_{index}"
        folder.mkdir(parents=True)
        (folder / "paper.md").write_text(f"# Draft of quality {quality}\n\nBody.", encoding="utf-8")
        drafts.append({"candidate": index, "dir": f"candidates/draft_{index}", "md": "paper.md"})
    stub.responder = ShownComparer(DRAFT_QUALITY)
    pool = BestOfN(n=3, selector=lambda v: 0.0).run(lambda index, seed: drafts[index])
    scored = bestofn.select(ctx, "draft", pool, "tournament", lambda v: 0.0, ranker=draft_ranker(ctx, "draft"))
    assert scored.winner_index == 2
    kept = json.loads((ctx.run_dir / "candidates" / "draft.json").read_text())["tournament"]
    assert len(kept["comparisons"]) == 6 and kept["ratings"]["2"] > kept["ratings"]["0"] > kept["ratings"]["1"]
