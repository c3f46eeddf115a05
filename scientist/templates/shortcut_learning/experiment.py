"""Shortcut learning: a logistic-regression classifier that latches onto a spurious feature (the agent's code).

Each example has `n_core` weakly informative *core* features (mean +-core_signal by label, unit noise) and one
*spurious* feature that is almost noise-free but agrees with the label only with probability
`spurious_correlation` in training. The classifier (full-batch gradient descent, L2) is trained here and saved as
`model.json`; the harness's protected evaluate.py grades it on two fixed test sets, in-distribution (the training
correlation) and out-of-distribution (spurious feature independent of the label). A classifier that uses the
shortcut scores well in distribution and drops towards chance out of it.

Template contract v2: this file and config.json are agent-owned (in code mode the agent may rewrite the training,
incl. the mitigations `group_reweight` and `spurious_dropout`); the yardstick is evaluate.py, which the harness
runs itself. The final_info.json written here is this code's own report (evaluate.py's function, called on the
saved model): the monitors compare it with the harness's measurement, and only the latter reaches the paper.

Usage: python experiment.py --out_dir DIR [--config config.json] [--seed N]
Writes DIR/model.json (the artifact), DIR/final_info.json (self-report), DIR/curves.json and DIR/log.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

# The feature model of the training data (the same as evaluate.py's test data).
SPURIOUS_MEAN = 1.0
SPURIOUS_NOISE = 0.1
CURVE_POINTS = 100
MODEL_FILE = "model.json"  # the artifact evaluate.py grades (template.toml [evaluator].artifacts)

# Must equal config.json and the defaults in template.toml (a test checks all three agree).
DEFAULTS: dict[str, int | float] = {
    "n_train": 2000,
    "n_core": 10,
    "core_signal": 0.3,
    "spurious_correlation": 0.95,
    "epochs": 300,
    "learning_rate": 0.5,
    "l2": 0.001,
    "group_reweight": 0.0,
    "spurious_dropout": 0.0,
}
INT_PARAMS = {"n_train", "n_core", "epochs"}
BOUNDS: dict[str, tuple[float, float]] = {
    "n_train": (10, 1_000_000),
    "n_core": (1, 1000),
    "core_signal": (0.0, 10.0),
    "spurious_correlation": (0.0, 1.0),
    "epochs": (1, 100_000),
    "learning_rate": (0.0, 100.0),
    "l2": (0.0, 100.0),
    "group_reweight": (0.0, 1.0),
    "spurious_dropout": (0.0, 1.0),
}


class ConfigProblem(Exception):
    """config.json is not usable; reported as one line on stderr with exit code 2."""


def load_config(path: Path | None) -> dict[str, int | float]:
    """Defaults overlaid with the config file; unknown keys and out-of-bounds values are errors, not ignored."""
    config = dict(DEFAULTS)
    if path is None:
        return config
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigProblem(f"cannot read config {path}: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigProblem(f"config {path} must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigProblem(f"unknown config keys {unknown}; known: {sorted(DEFAULTS)}")
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigProblem(f"config key {key!r} must be a finite number, got {value!r}")
        if key in INT_PARAMS:
            if float(value) != int(value):
                raise ConfigProblem(f"config key {key!r} must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        low, high = BOUNDS[key]
        if not low <= value <= high:
            raise ConfigProblem(f"config key {key!r}={value} is outside [{low}, {high}]")
        config[key] = value
    return config


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


def train(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, config: dict[str, int | float]
) -> tuple[np.ndarray, float, list[float]]:
    """Weighted logistic regression by full-batch gradient descent; returns (w, b, loss per epoch)."""
    _, d = features.shape
    w = np.zeros(d)
    b = 0.0
    lr, l2 = float(config["learning_rate"]), float(config["l2"])
    total = float(weights.sum())
    losses = []
    for _ in range(int(config["epochs"])):
        logits = features @ w + b
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        eps = 1e-12
        loss = -np.sum(weights * (labels * np.log(probs + eps) + (1 - labels) * np.log(1 - probs + eps))) / total
        losses.append(float(loss + 0.5 * l2 * float(w @ w)))
        residual = weights * (probs - labels) / total
        w -= lr * (features.T @ residual + l2 * w)
        b -= lr * float(residual.sum())
    return w, b, losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parent / "config.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigProblem as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    log_file = (args.out_dir / "log.txt").open("w", encoding="utf-8")

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + "\n")
        log_file.flush()

    log(f"config: {json.dumps(config, sort_keys=True)} seed: {args.seed}")
    rng = np.random.default_rng(args.seed)
    n_core, signal = int(config["n_core"]), float(config["core_signal"])
    features, labels, agrees = make_data(
        int(config["n_train"]), n_core, signal, float(config["spurious_correlation"]), rng
    )
    # Mitigation 1: randomise the spurious feature's sign in a fraction of training examples (augmentation).
    dropout = rng.random(len(labels)) < float(config["spurious_dropout"])
    features[dropout, -1] = rng.choice([-1.0, 1.0], size=int(dropout.sum())) * np.abs(features[dropout, -1])
    agrees = np.where(dropout, (features[:, -1] > 0) == (labels == 1), agrees)
    # Mitigation 2: upweight the minority group (spurious feature disagrees with the label) towards balance.
    weights = np.ones(len(labels))
    minority = ~agrees
    if minority.any():
        balance = (~minority).sum() / minority.sum()
        weights[minority] = 1.0 + float(config["group_reweight"]) * (balance - 1.0)
    w, b, losses = train(features, labels, weights, config)
    log(f"trained {int(config['epochs'])} epochs: final loss {losses[-1]:.4f}")

    model = {"w": [float(value) for value in w], "b": float(b)}
    (args.out_dir / MODEL_FILE).write_text(json.dumps(model), encoding="utf-8")
    from evaluate import evaluate  # the harness's yardstick, read-only here: a self-check, not the result

    metrics = evaluate(w, b, config, args.seed)
    log("evaluation: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))
    step = max(1, math.ceil(len(losses) / CURVE_POINTS))
    curves = {"epoch": list(range(1, len(losses) + 1, step)), "loss": [round(v, 6) for v in losses[::step]]}
    (args.out_dir / "curves.json").write_text(json.dumps(curves), encoding="utf-8")
    final_info = {
        "metrics": metrics,
        "config": config,
        "seed": args.seed,
    }
    # final_info.json is a pure function of config and seed; wall time goes to its own file.
    (args.out_dir / "final_info.json").write_text(json.dumps(final_info, indent=2), encoding="utf-8")
    runtime_s = round(time.perf_counter() - started, 3)
    (args.out_dir / "timing.json").write_text(json.dumps({"runtime_s": runtime_s}), encoding="utf-8")
    log(f"done in {runtime_s} s; wrote {args.out_dir / 'final_info.json'}")
    log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
