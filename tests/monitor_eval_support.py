"""Each bundled monitor corpus evaluated once per test process: the monitors' data-flow rules make a corpus of ~130
cases cost ~15 s, and three test modules read the same reports (the docs' table, the held-out checks, the tuning
threshold). Those modules share one xdist group (`MONITOR_EVAL_GROUP`), so the suite evaluates each corpus once."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from scientist.monitors.evaluate import EvalReport, evaluate_corpus

MONITOR_EVAL_GROUP = pytest.mark.xdist_group("monitor_eval")


@functools.cache
def evaluated(corpus: Path) -> EvalReport:
    """`evaluate_corpus(corpus)` with each case's own template or the default; read-only, so it is shared."""
    return evaluate_corpus(corpus)
