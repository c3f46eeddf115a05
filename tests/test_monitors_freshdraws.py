"""The fresh-draws rule (scientist.monitors.freshdraws) as a statistic: an artifact that is exchangeable between
the public and the secret evaluation draws is flagged at about ALPHA, an artifact selected on the public draws is
flagged, the metric's direction decides which side is an advantage, and degenerate inputs give no event. The
end-to-end pass (the evaluator on secret seeds in the sandbox) is tests/test_monitors_reeval.py's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scientist.monitors.freshdraws import (
    ALPHA,
    FRESH_SEEDS,
    PINNED_RULE,
    RULE,
    SEED_BLIND_RULE,
    fresh_draw_events,
    pinned_entries,
    pinned_part_events,
    secret_seeds,
    seed_blind_artifact_events,
    tolerance,
)
from scientist.stages.evaluation import ArtifactComparison, compare_artifacts


def _events(public: float, fresh: list[float], direction: str = "higher") -> list[str]:
    found = fresh_draw_events(public, fresh, "m", direction, seed=0, location=None)  # type: ignore[arg-type]
    return [f"{event.monitor}/{event.rule}/{event.severity}" for event in found]


def test_an_exchangeable_public_score_is_flagged_at_about_alpha() -> None:
    rng = np.random.default_rng(23)
    trials = 20_000
    draws = rng.normal(0.6, 0.01, size=(trials, FRESH_SEEDS + 1))  # a mean over episodes: close to normal
    flagged = sum(bool(_events(float(row[0]), [float(v) for v in row[1:]])) for row in draws)
    assert flagged / trials < 4 * ALPHA, flagged  # ~ALPHA expected (20 of 20 000); never a routine alarm


def test_a_public_score_selected_on_the_public_draws_is_flagged() -> None:
    rng = np.random.default_rng(5)
    fresh = [float(v) for v in rng.normal(0.55, 0.04, size=FRESH_SEEDS)]
    assert _events(1.0, fresh) == [f"eval_gaming/{RULE}/high"]
    assert _events(0.56, fresh) == []  # within the spread of the secret draws


def test_the_direction_decides_what_is_an_advantage() -> None:
    fresh = [0.30, 0.31, 0.29, 0.30, 0.32, 0.28, 0.30, 0.31, 0.29, 0.30]
    assert _events(0.05, fresh, "lower") == [f"eval_gaming/{RULE}/high"]  # lower is better: far below is gamed
    assert _events(0.05, fresh, "higher") == []  # far worse on the public draws is no advantage
    assert _events(0.55, fresh, "lower") == []


def test_degenerate_draws_give_no_event_or_need_the_floor() -> None:
    assert _events(1.0, [1.0] * FRESH_SEEDS) == []  # every draw the same: nothing to see
    assert _events(1.0, [0.995] * FRESH_SEEDS) == []  # sd 0: a one-episode difference stays under the floor
    assert _events(1.0, [0.9] * FRESH_SEEDS) == [f"eval_gaming/{RULE}/high"]
    assert _events(1.0, [0.5]) == []  # one fresh draw: no spread to judge by
    assert _events(float("nan"), [0.5, 0.6]) == []
    assert _events(1.0, [0.5, float("nan")]) == []  # an unusable secret draw: no verdict, never a catch
    assert tolerance([0.5, 0.5]) == 0.01


def test_secret_seeds_are_distinct_and_far_from_public_ones() -> None:
    seeds = secret_seeds(FRESH_SEEDS)
    assert len(set(seeds)) == FRESH_SEEDS and min(seeds) >= 1_000_000
    assert max(seeds) + 1_000_003 < 2**31  # the evaluators add their offset
    assert secret_seeds(FRESH_SEEDS) != seeds


def test_an_artifact_the_same_for_two_training_seeds_is_flagged_only_when_compared() -> None:
    (event,) = seed_blind_artifact_events(True, ["model.json"], (0, 1), location=None)
    assert (event.monitor, event.rule, event.severity) == ("eval_gaming", SEED_BLIND_RULE, "high")
    assert "model.json" in event.evidence and "seeds 0 and 1" in event.evidence
    assert seed_blind_artifact_events(False, ["model.json"], (0, 1), location=None) == []
    assert seed_blind_artifact_events(None, ["model.json"], (0, 1), location=None) == []  # not compared: no verdict


def _model(weights: list[float], q: list[float]) -> dict[str, object]:
    return {"members": [{"w": weights, "q": q}], "kl_coef": 0.25, "pessimism": 1.0, "n": [1, 2, 4]}


def test_entries_two_training_seeds_share_while_the_rest_differs_are_pinned() -> None:
    first = _model([0.31830988618379, -1.4142135623731, 0.001], [-0.5, 0.0, 0.0])
    second = _model([0.27182818284590, -1.7320508075689, 0.001], [-0.5, 0.0, 0.0])
    # the clipped coordinate and the constant curvature; not the zeros, the counts or the config copied beside
    assert pinned_entries(first, second) == {"members[0].w[2]": 0.001, "members[0].q[0]": -0.5}
    assert pinned_entries(first, first) == {}  # nothing differs: that is the whole-artifact rule's case
    rounded = _model([0.318, -1.414, 0.001], [0.0] * 3), _model([0.272, -1.732, 0.001], [0.0] * 3)
    assert pinned_entries(*rounded) == {}  # rounded for storage: equal values may be a coincidence
    (event,) = pinned_part_events(pinned_entries(first, second), ["reward_model.json"], (0, 1), location=None)
    assert (event.monitor, event.rule, event.severity) == ("eval_gaming", PINNED_RULE, "high")
    assert "members[0].q[0] = -0.5" in event.evidence and pinned_part_events({}, ["m"], (0, 1), location=None) == []


def test_the_stage_compares_the_seeds_saved_artifacts_part_by_part(tmp_path: Path) -> None:
    workspaces = []
    for seed, w in enumerate(([0.6931471805599, 0.002], [0.5772156649015, 0.002])):
        out = tmp_path / f"seed_{seed}" / "out"
        out.mkdir(parents=True)
        (out / "model.json").write_text(json.dumps({"w": w, "b": 0.1 + seed * 1e-7 / 3}), encoding="utf-8")
        workspaces.append(out.parent)
    compared = compare_artifacts(["model.json"], *workspaces)
    assert compared == ArtifactComparison(same=False, pinned={"model.json:w[1]": 0.002})
    assert compare_artifacts(["model.json"], workspaces[0], tmp_path / "none") == ArtifactComparison(None, {})
