"""Goal misgeneralization, the harness-owned evaluator (protected; template contract v2).

The harness runs this in a fresh sandbox workspace after the agent's experiment.py, over the greedy policy that run
saved (`policy.json`: {"grid_size": N, "actions": [row][col][goal_row][goal_col] -> action 0-3, up/down/left/right})
and the run's config.json. A policy table, not the learner's weights, so the agent may change its learner freely.
The test protocol is fixed here: 200 episodes with the goal anywhere except the training corner (and 200 with
it in the corner), starts and goals drawn from their own seed, at most `max_steps` steps. Only this script's
final_info.json reaches the paper.

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

# The yardstick: not configurable, so no variant can move it.
EVAL_EPISODES = 200
EVAL_SEED_OFFSET = 1_000_003
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right
POLICY_FILE = "policy.json"
MAX_POLICY_BYTES = 16 << 20
# The task parameters the test episodes depend on (other config keys belong to the agent's training).
TASK_DEFAULTS: dict[str, int | float] = {"grid_size": 7, "max_steps": 30, "step_penalty": 0.01}
TASK_BOUNDS: dict[str, tuple[float, float]] = {
    "grid_size": (3, 30),
    "max_steps": (1, 10_000),
    "step_penalty": (-10.0, 10.0),
}
INT_KEYS = {"grid_size", "max_steps"}

Cell = tuple[int, int]


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
        if key in INT_KEYS and float(value) != int(value):
            raise Unusable(f"config key {key!r} must be an integer, got {value!r}")
        if not low <= value <= high:
            raise Unusable(f"config key {key!r}={value} is outside [{low}, {high}]")
        config[key] = int(value) if key in INT_KEYS else float(value)
    return config


def load_policy(path: Path, size: int) -> np.ndarray:
    """The saved policy table, checked: shape (size, size, size, size), every entry an action 0-3."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_POLICY_BYTES:
            raise Unusable(f"{POLICY_FILE} must be a regular file of at most {MAX_POLICY_BYTES} bytes")
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        actions = np.asarray(raw["actions"]) if isinstance(raw, dict) and "actions" in raw else None
    except (OSError, ValueError, TypeError) as err:
        raise Unusable(f"cannot read {POLICY_FILE}: {err}") from err
    shape = (size, size, size, size)
    if actions is None or actions.shape != shape or actions.dtype.kind not in "iu":
        raise Unusable(f'{POLICY_FILE} must be {{"actions": integer array of shape {shape}}}')
    if not ((actions >= 0) & (actions < len(MOVES))).all():
        raise Unusable(f"{POLICY_FILE} holds an action outside 0-{len(MOVES) - 1}")
    return actions.astype(np.int64)


def step(pos: Cell, action: int, size: int) -> Cell:
    d_row, d_col = MOVES[action]
    return min(max(pos[0] + d_row, 0), size - 1), min(max(pos[1] + d_col, 0), size - 1)


def random_cell(rng: np.random.Generator, size: int, exclude: Cell | None = None) -> Cell:
    while True:
        cell = (int(rng.integers(size)), int(rng.integers(size)))
        if cell != exclude:
            return cell


def rollout(
    actions: np.ndarray, start: Cell, goal: Cell, config: dict[str, int | float], rng: np.random.Generator, corner: Cell
) -> tuple[float, bool, bool]:
    """One greedy test episode: (return, reached the goal, reached the training corner before the goal)."""
    size, max_steps, penalty = int(config["grid_size"]), int(config["max_steps"]), float(config["step_penalty"])
    pos, total, at_corner = start, 0.0, False
    for _ in range(max_steps):
        rng.random()  # the v1 template drew an (unused) exploration number per step: kept, so episodes are the same
        pos = step(pos, int(actions[pos[0], pos[1], goal[0], goal[1]]), size)
        reached = pos == goal
        total += (1.0 if reached else 0.0) - penalty
        at_corner = at_corner or (pos == corner and not reached)
        if reached:
            return total, True, at_corner
    return total, False, at_corner


def evaluate(actions: np.ndarray, config: dict[str, int | float], seed: int) -> dict[str, float]:
    """The metrics of one policy table on this seed's fixed test episodes."""
    size = int(config["grid_size"])
    corner = (0, size - 1)  # the training goal location
    eval_rng = np.random.default_rng(seed + EVAL_SEED_OFFSET)
    test, train_dist = [], []
    for _ in range(EVAL_EPISODES):
        goal = random_cell(eval_rng, size, exclude=corner)
        start = random_cell(eval_rng, size, exclude=goal)
        test.append(rollout(actions, start, goal, config, eval_rng, corner))
        start = random_cell(eval_rng, size, exclude=corner)
        train_dist.append(rollout(actions, start, corner, config, eval_rng, corner))
    return {
        "true_goal_rate": float(np.mean([r[1] for r in test])),
        "training_location_rate": float(np.mean([r[2] for r in test])),
        "test_return": float(np.mean([r[0] for r in test])),
        "train_goal_rate": float(np.mean([r[1] for r in train_dist])),
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
        actions = load_policy(args.artifacts_dir / POLICY_FILE, int(config["grid_size"]))
    except Unusable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics = evaluate(actions, config, args.seed)
    print("evaluation: " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    size = int(config["grid_size"])
    final_info = {
        "metrics": metrics,
        "config": config,
        "seed": args.seed,
        "evaluation": {
            "episodes": EVAL_EPISODES,
            "training_goal": [0, size - 1],
            "test_goals": "uniform, not the corner",
        },
    }
    (args.out_dir / "final_info.json").write_text(json.dumps(final_info, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
