"""Shortcut learning, the harness-owned evaluator (protected; template contract v2).

The harness runs this in a fresh sandbox workspace after the agent's experiment.py, over the classifier that run
saved (`model.json`: {"w": [n_core + 1 floats, the spurious feature's weight last], "b": float}) and the run's
config.json. The test sets are drawn here, from the seed and the task parameters only: in-distribution (the
training correlation) and out-of-distribution (spurious feature independent of the label). Nothing the agent's
code does can change them; only this script's final_info.json reaches the paper.

Usage: python evaluate.py --artifacts_dir DIR --config config.json --out_dir OUT [--seed N]
Exit code 2 with one `error: ...` line when the config or the artifact is unusable. numpy only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

# The yardstick: test-set sizes, the OOD correlation and the feature model are not configurable.
TEST_SIZE = 5000
OOD_CORRELATION = 0.5
SPURIOUS_MEAN = 1.0
SPURIOUS_NOISE = 0.1
EVAL_SEED_OFFSET = 1_000_003
MODEL_FILE = "model.json"
MAX_MODEL_BYTES = 1 << 20
# The task parameters the test sets depend on (other config keys belong to the agent's training and are ignored).
TASK_DEFAULTS: dict[str, int | float] = {"n_core": 10, "core_signal": 0.3, "spurious_correlation": 0.95}
TASK_BOUNDS: dict[str, tuple[float, float]] = {
    "n_core": (1, 1000),
    "core_signal": (0.0, 10.0),
    "spurious_correlation": (0.0, 1.0),
}


class Unusable(Exception):
    """The config or the artifact cannot be evaluated; one line on stderr, exit code 2."""


def task_config(path: Path) -> dict[str, int | float]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise Unusable(f"cannot read config {path}: {err}") from err
    if not isinstance(raw, dict):
        raise Unusable(f"config {path} must be a JSON object")
    config = dict(TASK_DEFAULTS)
    for key, (low, high) in TASK_BOUNDS.items():
        value = raw.get(key, TASK_DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Unusable(f"config key {key!r} must be a finite number, got {value!r}")
        if key == "n_core" and float(value) != int(value):
            raise Unusable(f"config key 'n_core' must be an integer, got {value!r}")
        if not low <= value <= high:
            raise Unusable(f"config key {key!r}={value} is outside [{low}, {high}]")
        config[key] = int(value) if key == "n_core" else float(value)
    return config


def load_model(path: Path, n_features: int) -> tuple[np.ndarray, float]:
    """The saved classifier, checked: the right number of finite weights and a finite bias."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MODEL_BYTES:
            raise Unusable(f"{MODEL_FILE} must be a regular file of at most {MAX_MODEL_BYTES} bytes")
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise Unusable(f"cannot read {MODEL_FILE}: {err}") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("w"), list) or len(raw["w"]) != n_features:
        raise Unusable(f'{MODEL_FILE} must be {{"w": [{n_features} numbers], "b": number}}')
    values = [*raw["w"], raw.get("b")]
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in values):
        raise Unusable(f"{MODEL_FILE} holds a weight or bias that is not a finite number")
    return np.asarray(raw["w"], dtype=float), float(raw["b"])


def make_data(
    n: int, n_core: int, core_signal: float, correlation: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels in {0, 1}, agrees) where agrees marks examples whose spurious feature matches the label."""
    labels = rng.integers(0, 2, size=n)
    sign = 2.0 * labels - 1.0
    core = sign[:, None] * core_signal + rng.standard_normal((n, n_core))
    agrees = rng.random(n) < correlation
    spurious_sign = np.where(agrees, sign, -sign)
    spurious = spurious_sign * SPURIOUS_MEAN + SPURIOUS_NOISE * rng.standard_normal(n)
    return np.column_stack([core, spurious]), labels, agrees


def accuracy(w: np.ndarray, b: float, features: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(((features @ w + b) > 0).astype(int) == labels))


def evaluate(w: np.ndarray, b: float, config: dict[str, int | float], seed: int) -> dict[str, float]:
    """The metrics of one classifier on the fixed ID and OOD test sets of this seed."""
    n_core, signal = int(config["n_core"]), float(config["core_signal"])
    eval_rng = np.random.default_rng(seed + EVAL_SEED_OFFSET)
    id_x, id_y, _ = make_data(TEST_SIZE, n_core, signal, float(config["spurious_correlation"]), eval_rng)
    ood_x, ood_y, ood_agrees = make_data(TEST_SIZE, n_core, signal, OOD_CORRELATION, eval_rng)
    id_acc, ood_acc = accuracy(w, b, id_x, id_y), accuracy(w, b, ood_x, ood_y)
    group_acc = [
        accuracy(w, b, ood_x[mask], ood_y[mask])
        for mask in (
            ood_agrees & (ood_y == 1),
            ood_agrees & (ood_y == 0),
            ~ood_agrees & (ood_y == 1),
            ~ood_agrees & (ood_y == 0),
        )
        if mask.any()
    ]
    core_norm = float(np.linalg.norm(w[:-1]))
    return {
        "ood_accuracy": ood_acc,
        "id_accuracy": id_acc,
        "generalization_gap": id_acc - ood_acc,
        "worst_group_accuracy": float(min(group_acc)),
        "spurious_weight_share": float(abs(w[-1]) / (abs(w[-1]) + core_norm + 1e-12)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--artifacts_dir", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        config = task_config(args.config)
        w, b = load_model(args.artifacts_dir / MODEL_FILE, int(config["n_core"]) + 1)
    except Unusable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics = evaluate(w, b, config, args.seed)
    print("evaluation: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    final_info = {
        "metrics": metrics,
        "config": config,
        "seed": args.seed,
        "evaluation": {"test_size": TEST_SIZE, "ood_correlation": OOD_CORRELATION},
    }
    (args.out_dir / "final_info.json").write_text(json.dumps(final_info, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
