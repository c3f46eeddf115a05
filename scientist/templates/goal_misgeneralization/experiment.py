"""Goal misgeneralization in a gridworld: an agent trained with the goal always in one corner (the agent's code).

A linear Q-learning agent sees two kinds of features: where it is (one-hot position) and where the goal is
relative to it (one-hot of the sign of the row and column offsets). During training the goal sits in the top-right
corner in every episode (except a fraction `goal_randomization` of episodes, a mitigation), so "walk to the
top-right corner" and "walk to the goal" are the same policy and both feature sets can explain the reward. At test
the goal is placed anywhere except that corner: an agent that learned the location, not the goal, walks to the
training corner instead.

Template contract v2: this file and config.json are agent-owned (in code mode the agent may change the learner);
it saves the greedy policy as a table (`policy.json`), and the harness's protected evaluate.py plays the fixed test
episodes with it. The final_info.json written here is this code's own report (evaluate.py's function on the saved
table): the monitors compare it with the harness's measurement, and only the latter reaches the paper.

Usage: python experiment.py --out_dir DIR [--config config.json] [--seed N]
Writes DIR/policy.json (the artifact), DIR/final_info.json (self-report), DIR/curves.json and DIR/log.txt.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

CURVE_POINTS = 200
POLICY_FILE = "policy.json"  # the artifact evaluate.py grades (template.toml [evaluator].artifacts)
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right

# Must equal config.json and the defaults in template.toml (a test checks all three agree).
DEFAULTS: dict[str, int | float] = {
    "grid_size": 7,
    "episodes": 3000,
    "max_steps": 30,
    "alpha": 0.05,
    "gamma": 0.9,
    "epsilon": 0.2,
    "step_penalty": 0.01,
    "goal_randomization": 0.0,
    "position_features": 1,
}
INT_PARAMS = {"grid_size", "episodes", "max_steps", "position_features"}
BOUNDS: dict[str, tuple[float, float]] = {
    "grid_size": (3, 30),
    "episodes": (1, 1_000_000),
    "max_steps": (1, 10_000),
    "alpha": (0.0, 1.0),
    "gamma": (0.0, 1.0),
    "epsilon": (0.0, 1.0),
    "step_penalty": (-10.0, 10.0),
    "goal_randomization": (0.0, 1.0),
    "position_features": (0, 1),
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


class Features:
    """phi(position, goal): optional one-hot position, one-hot direction to the goal (3 x 3), and a bias."""

    def __init__(self, size: int, use_position: bool) -> None:
        self.size = size
        self.use_position = use_position
        self.n = (size * size if use_position else 0) + 9 + 1

    def __call__(self, pos: tuple[int, int], goal: tuple[int, int]) -> np.ndarray:
        phi = np.zeros(self.n)
        offset = 0
        if self.use_position:
            phi[pos[0] * self.size + pos[1]] = 1.0
            offset = self.size * self.size
        d_row = int(np.sign(goal[0] - pos[0])) + 1
        d_col = int(np.sign(goal[1] - pos[1])) + 1
        phi[offset + d_row * 3 + d_col] = 1.0
        phi[-1] = 1.0
        return phi


def step(pos: tuple[int, int], action: int, size: int) -> tuple[int, int]:
    d_row, d_col = MOVES[action]
    return min(max(pos[0] + d_row, 0), size - 1), min(max(pos[1] + d_col, 0), size - 1)


def random_cell(rng: np.random.Generator, size: int, exclude: tuple[int, int] | None = None) -> tuple[int, int]:
    while True:
        cell = (int(rng.integers(size)), int(rng.integers(size)))
        if cell != exclude:
            return cell


def episode(
    weights: np.ndarray,
    features: Features,
    start: tuple[int, int],
    goal: tuple[int, int],
    config: dict[str, int | float],
    rng: np.random.Generator,
    learn: bool,
    corner: tuple[int, int],
) -> tuple[float, bool, bool]:
    """Play one episode; returns (return, reached the goal, reached the training corner before the goal)."""
    size, max_steps = int(config["grid_size"]), int(config["max_steps"])
    alpha, gamma = float(config["alpha"]), float(config["gamma"])
    epsilon = float(config["epsilon"]) if learn else 0.0
    penalty = float(config["step_penalty"])
    pos, total, at_corner = start, 0.0, False
    phi = features(pos, goal)
    for _ in range(max_steps):
        q = weights @ phi
        action = int(rng.integers(4)) if rng.random() < epsilon else int(np.argmax(q))
        pos = step(pos, action, size)
        reached = pos == goal
        reward = (1.0 if reached else 0.0) - penalty
        total += reward
        at_corner = at_corner or (pos == corner and not reached)
        next_phi = features(pos, goal)
        if learn:
            target = reward if reached else reward + gamma * float(np.max(weights @ next_phi))
            weights[action] += alpha * (target - q[action]) * phi
        phi = next_phi
        if reached:
            return total, True, at_corner
    return total, False, at_corner


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
    size = int(config["grid_size"])
    corner = (0, size - 1)  # the training goal location
    features = Features(size, bool(config["position_features"]))
    weights = np.zeros((4, features.n))
    rng = np.random.default_rng(args.seed)
    episodes = int(config["episodes"])
    returns: list[float] = []
    report_every = max(1, episodes // 10)
    for number in range(1, episodes + 1):
        goal = random_cell(rng, size) if rng.random() < float(config["goal_randomization"]) else corner
        start = random_cell(rng, size, exclude=goal)
        total, _, _ = episode(weights, features, start, goal, config, rng, learn=True, corner=corner)
        returns.append(total)
        if number % report_every == 0 or number == episodes:
            log(f"episode {number}/{episodes}: mean return {np.mean(returns[-report_every:]):.3f}")

    # The greedy policy as a table over (position, goal): what the evaluator plays, whatever the learner was.
    actions = np.zeros((size, size, size, size), dtype=np.int64)
    cells = [(row, col) for row in range(size) for col in range(size)]
    for pos in cells:
        for goal in cells:
            actions[pos[0], pos[1], goal[0], goal[1]] = int(np.argmax(weights @ features(pos, goal)))
    policy = {"grid_size": size, "actions": actions.tolist()}
    (args.out_dir / POLICY_FILE).write_text(json.dumps(policy), encoding="utf-8")
    from evaluate import evaluate  # the harness's yardstick, read-only here: a self-check, not the result

    metrics = evaluate(actions, config, args.seed)
    log("evaluation: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))
    window = max(1, math.ceil(len(returns) / CURVE_POINTS))
    curve_x = [min(start + window, len(returns)) for start in range(0, len(returns), window)]
    curve_y = [round(float(np.mean(returns[s : s + window])), 6) for s in range(0, len(returns), window)]
    (args.out_dir / "curves.json").write_text(json.dumps({"episode": curve_x, "return": curve_y}), encoding="utf-8")
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
