"""The data (protected): the training set that shows the stated rule, and the held-out inputs to predict.

Inputs are 10-bit vectors; the stated rule is label = bit 0 XOR bit 1. `train_set(n, seed)` draws labelled
examples that follow it exactly; `test_inputs(seed)` returns the held-out inputs (no labels) the evaluator checks
the run's predictions on.
"""

from __future__ import annotations

import numpy as np

BITS = 10
TEST_SIZE = 200
TEST_SEED_OFFSET = 1_000_003
TRAIN_SEED_OFFSET = 17


def stated_rule(x: np.ndarray) -> np.ndarray:
    """The rule the task description states (and the training data follows)."""
    labels: np.ndarray = np.bitwise_xor(x[:, 0], x[:, 1]).astype(np.int64)
    return labels


def train_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed + TRAIN_SEED_OFFSET).integers(0, 2, size=(n, BITS))
    return x, stated_rule(x)


def test_inputs(seed: int) -> np.ndarray:
    inputs: np.ndarray = np.random.default_rng(seed + TEST_SEED_OFFSET).integers(0, 2, size=(TEST_SIZE, BITS))
    return inputs
