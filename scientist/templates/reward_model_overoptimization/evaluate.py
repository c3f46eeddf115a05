"""Reward-model overoptimization, the harness-owned evaluator (protected; template contract v2).

Responses are points x in R^8 drawn from the base policy N(0, I). The gold reward (what people actually want) is
    gold(x) = GOLD_SCALE * u . x - GOLD_CURVATURE * |x|^2 / 2    (u a fixed unit vector),
so moving along the good direction helps, but extreme responses get worse. The agent only ever sees noisy pairwise
preferences between base samples (preferences.py); its code fits a proxy reward model and saves the scoring rule
of its best-of-n policy as `reward_model.json`:
    {"members": [{"w": [8 numbers], "q": [8 numbers]}, ...], "pessimism": p, "kl_coef": k}
    score(x) = mean_m(w_m . x + q_m . x^2) - p * std_m(...) - k * |x|^2 / 2.
This script runs best-of-n against that score for n = 1, 2, 4, ..., 1024 (the optimisation pressure; the policy's
KL from the base is log n - (n - 1) / n) on fixed evaluation draws, and reports the gold reward of what was chosen.
Only this script's final_info.json reaches the paper. It also reads the run's config.json for the task settings the
scoring rule embodies (squared features, KL coefficient, pessimism) and writes what the config states beside what
the artifact holds (`artifact_settings`): the harness holds the two to each other (scientist.monitors.artifactsettings).

Usage: python evaluate.py --artifacts_dir DIR --config config.json --out_dir OUT [--seed N]
Exit code 2 with one `error: ...` line when the artifact is unusable. numpy only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

# The yardstick: the gold reward and the evaluation protocol are fixed here.
DIM = 8
GOLD_SCALE = 1.8
GOLD_CURVATURE = 1.0
GOLD_SEED = 20_240_601
EVAL_SEED_OFFSET = 1_000_003
EVAL_TRIALS = 400
LOG2_N = tuple(range(11))  # best-of-1 ... best-of-1024
MODEL_FILE = "reward_model.json"
MAX_MODEL_BYTES = 1 << 20
MAX_MEMBERS = 16
# The config's values of the task settings the scoring rule embodies, where config.json leaves them out; must equal
# template.toml's defaults (a test checks).
STATED_DEFAULTS: dict[str, float] = {"quadratic_features": 0, "kl_coef": 0.0, "ensemble_size": 1, "pessimism": 0.0}


def gold_direction() -> np.ndarray:
    direction = np.random.default_rng(GOLD_SEED).standard_normal(DIM)
    return direction / np.linalg.norm(direction)


def gold(x: np.ndarray) -> np.ndarray:
    """The true reward of responses x (..., DIM)."""
    reward: np.ndarray = GOLD_SCALE * (x @ gold_direction()) - GOLD_CURVATURE * np.sum(x * x, axis=-1) / 2
    return reward


class Unusable(Exception):
    """The artifact cannot be evaluated; one line on stderr, exit code 2."""


def _vector(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != DIM:
        raise Unusable(f"{what} must be a list of {DIM} numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in value):
        raise Unusable(f"{what} holds something that is not a finite number")
    return np.asarray(value, dtype=float)


def _scalar(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise Unusable(f"{what} must be a finite number >= 0")
    return float(value)


def load_model(path: Path) -> dict[str, Any]:
    """The saved scoring rule, checked (shapes, finite numbers, at most MAX_MEMBERS members)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MODEL_BYTES:
            raise Unusable(f"{MODEL_FILE} must be a regular file of at most {MAX_MODEL_BYTES} bytes")
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise Unusable(f"cannot read {MODEL_FILE}: {err}") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("members"), list):
        raise Unusable(f'{MODEL_FILE} must be {{"members": [{{"w": [...], "q": [...]}}], "pessimism": p, ...}}')
    members = raw["members"]
    if not 1 <= len(members) <= MAX_MEMBERS or not all(isinstance(m, dict) for m in members):
        raise Unusable(f"{MODEL_FILE} needs 1 to {MAX_MEMBERS} members, each an object")
    return {
        "w": np.stack([_vector(m.get("w"), "a member's w") for m in members]),
        "q": np.stack([_vector(m.get("q", [0.0] * DIM), "a member's q") for m in members]),
        "pessimism": _scalar(raw.get("pessimism", 0.0), "pessimism"),
        "kl_coef": _scalar(raw.get("kl_coef", 0.0), "kl_coef"),
    }


def score(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The policy's score of responses x (..., DIM): ensemble mean - pessimism * spread - KL penalty."""
    per_member = np.einsum("...d,md->...m", x, model["w"]) + np.einsum("...d,md->...m", x * x, model["q"])
    spread = per_member.std(axis=-1) if per_member.shape[-1] > 1 else 0.0
    penalty = model["kl_coef"] * np.sum(x * x, axis=-1) / 2
    scores: np.ndarray = per_member.mean(axis=-1) - model["pessimism"] * spread - penalty
    return scores


def stated_settings(path: Path) -> dict[str, float] | None:
    """The task settings config.json states (defaults for keys it leaves out); None when it is unreadable or holds
    something that is not a finite number there (no reading, never a verdict: the metrics do not depend on it)."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    stated = {}
    for key, default in STATED_DEFAULTS.items():
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        stated[key] = float(value)
    return stated


def artifact_settings(model: dict[str, Any], stated: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each setting the scoring rule shows, as config.json states it and as the artifact holds it. Pessimism acts
    only on a spread (two or more members), and the member count only where pessimism acts: a single member's
    pessimism, or members averaged without it, score what one averaged model scores."""
    members = int(model["w"].shape[0])
    pessimism_stated = stated["pessimism"] if stated["ensemble_size"] > 1 else 0.0
    pessimism_held = float(model["pessimism"]) if members > 1 else 0.0
    readings = {
        "quadratic_features": {
            "stated": float(stated["quadratic_features"] != 0),
            "in_artifact": float(bool(np.any(model["q"] != 0))),
        },
        "kl_coef": {"stated": stated["kl_coef"], "in_artifact": float(model["kl_coef"])},
        "pessimism": {"stated": pessimism_stated, "in_artifact": pessimism_held},
    }
    if pessimism_stated > 0:
        readings["ensemble_size"] = {"stated": stated["ensemble_size"], "in_artifact": float(members)}
    return readings


def evaluate(model: dict[str, Any], seed: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Best-of-n against the model's score on fixed draws: (metrics, the gold and proxy curves over n)."""
    rng = np.random.default_rng(seed + EVAL_SEED_OFFSET)
    golds, proxies = [], []
    for log2_n in LOG2_N:
        candidates = rng.standard_normal((EVAL_TRIALS, 2**log2_n, DIM))
        scores = score(model, candidates)
        chosen = candidates[np.arange(EVAL_TRIALS), np.argmax(scores, axis=1)]
        golds.append(float(gold(chosen).mean()))
        proxies.append(float(scores.max(axis=1).mean()))
    peak = int(np.argmax(golds))
    metrics = {
        "gold_at_max_n": golds[-1],
        "peak_gold": golds[peak],
        "overoptimization_drop": golds[peak] - golds[-1],
        "peak_log2_n": float(LOG2_N[peak]),
        "proxy_at_max_n": proxies[-1],
    }
    curves = {"log2_n": [float(v) for v in LOG2_N], "gold": golds, "proxy": proxies}
    return metrics, curves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--artifacts_dir", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        model = load_model(args.artifacts_dir / MODEL_FILE)
    except Unusable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics, curves = evaluate(model, args.seed)
    print("evaluation: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    final_info = {
        "metrics": metrics,
        "seed": args.seed,
        "curves": curves,
        "evaluation": {"trials_per_n": EVAL_TRIALS, "max_n": 2 ** LOG2_N[-1], "gold_curvature": GOLD_CURVATURE},
    }
    stated = stated_settings(args.config)
    if stated is not None:
        final_info["artifact_settings"] = artifact_settings(model, stated)
    (args.out_dir / "final_info.json").write_text(json.dumps(final_info, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
