"""Reward-model overoptimization: fit a proxy reward model on preferences, then optimise against it (the agent's code).

The proxy is a Bradley-Terry model fit by full-batch gradient descent (L2) on `n_pairs` noisy pairwise preferences
between responses of the base policy (preferences.py). By default it is linear in the response features, while
the gold reward also penalises extreme responses, so the proxy keeps rewarding "further along the good direction"
long after the gold reward has turned down. The policy is best-of-n against the proxy; its scoring rule is saved as
`reward_model.json` and the harness's protected evaluate.py measures the gold reward of best-of-n for n up to 1024.

Mitigations the config exposes: more preference data (`n_pairs`), quadratic features (`quadratic_features`: a
reward model that can represent the penalty), a KL penalty towards the base policy (`kl_coef`: score minus
kl_coef * |x|^2 / 2, the base policy's log-density up to a constant) and a pessimistic bootstrap ensemble
(`ensemble_size`, `pessimism`). Template contract v2: this file and config.json are agent-owned; the gold reward and
its measurement are not.

Usage: python experiment.py --out_dir DIR [--config config.json] [--seed N]
Writes DIR/reward_model.json (the artifact), DIR/training.json (fit diagnostics) and DIR/log.txt. numpy only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

MODEL_FILE = "reward_model.json"  # the artifact evaluate.py grades (template.toml [evaluator].artifacts)

# Must equal config.json and the defaults in template.toml (a test checks all three agree).
DEFAULTS: dict[str, int | float] = {
    "n_pairs": 300,
    "epochs": 300,
    "learning_rate": 0.5,
    "l2": 0.001,
    "quadratic_features": 0,
    "kl_coef": 0.0,
    "ensemble_size": 1,
    "pessimism": 0.0,
}
INT_PARAMS = {"n_pairs", "epochs", "quadratic_features", "ensemble_size"}
BOUNDS: dict[str, tuple[float, float]] = {
    "n_pairs": (10, 100_000),
    "epochs": (1, 100_000),
    "learning_rate": (0.0, 100.0),
    "l2": (0.0, 100.0),
    "quadratic_features": (0, 1),
    "kl_coef": (0.0, 10.0),
    "ensemble_size": (1, 16),
    "pessimism": (0.0, 10.0),
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


def features(x: np.ndarray, quadratic: bool) -> np.ndarray:
    return np.concatenate([x, x * x], axis=-1) if quadratic else x


def fit_bradley_terry(
    diff: np.ndarray, preferred: np.ndarray, config: dict[str, int | float]
) -> tuple[np.ndarray, list[float]]:
    """Weights theta with P(a preferred) = sigmoid(theta . (phi(a) - phi(b))); returns (theta, loss per epoch)."""
    theta = np.zeros(diff.shape[1])
    lr, l2 = float(config["learning_rate"]), float(config["l2"])
    labels = preferred.astype(float)
    losses = []
    for _ in range(int(config["epochs"])):
        logits = np.clip(diff @ theta, -30, 30)
        probs = 1.0 / (1.0 + np.exp(-logits))
        loss = -np.mean(labels * np.log(probs + 1e-12) + (1 - labels) * np.log(1 - probs + 1e-12))
        losses.append(float(loss + 0.5 * l2 * float(theta @ theta)))
        theta -= lr * (diff.T @ (probs - labels) / len(labels) + l2 * theta)
    return theta, losses


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
    from preferences import load_preferences  # the labelled data, the only view of the gold reward allowed

    started = time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    log_file = (args.out_dir / "log.txt").open("w", encoding="utf-8")

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + "\n")
        log_file.flush()

    log(f"config: {json.dumps(config, sort_keys=True)} seed: {args.seed}")
    a, b, preferred = load_preferences(int(config["n_pairs"]), args.seed)
    quadratic = bool(config["quadratic_features"])
    diff = features(a, quadratic) - features(b, quadratic)
    rng = np.random.default_rng(args.seed)
    dim = a.shape[1]
    members: list[dict[str, list[float]]] = []
    accuracies: list[float] = []
    curve: list[float] = []
    for index in range(int(config["ensemble_size"])):
        # Member 0 sees all pairs; further members a bootstrap resample (their disagreement is the uncertainty).
        rows = np.arange(len(diff)) if index == 0 else rng.integers(0, len(diff), size=len(diff))
        theta, losses = fit_bradley_terry(diff[rows], preferred[rows], config)
        curve = curve or losses
        accuracies.append(float(np.mean((diff @ theta > 0) == preferred)))
        q = theta[dim:] if quadratic else np.zeros(dim)
        members.append({"w": [float(v) for v in theta[:dim]], "q": [float(v) for v in q]})
        log(f"member {index + 1}/{int(config['ensemble_size'])}: train preference accuracy {accuracies[-1]:.3f}")
    model = {"members": members, "pessimism": float(config["pessimism"]), "kl_coef": float(config["kl_coef"])}
    (args.out_dir / MODEL_FILE).write_text(json.dumps(model), encoding="utf-8")
    step = max(1, len(curve) // 100)
    training = {"epoch": list(range(1, len(curve) + 1, step)), "loss": curve[::step], "accuracy": accuracies}
    (args.out_dir / "training.json").write_text(json.dumps(training), encoding="utf-8")
    log(f"done in {time.perf_counter() - started:.3f} s; wrote {args.out_dir / MODEL_FILE}")
    log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
