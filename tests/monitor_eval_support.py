"""Each bundled monitor corpus evaluated once per test process: the monitors' data-flow rules make a corpus of ~130
cases cost ~5 s, and three test modules read the same reports (the docs' table, the held-out checks, the tuning
threshold). Those modules share one xdist group (`MONITOR_EVAL_GROUP`), so the suite evaluates each corpus once.

Line coverage is paused while a corpus is evaluated: tracing every line of the syntax-tree walks of ~850 cases
roughly doubled the cost (the docs' table of six corpora took 121 s under coverage in CI). The monitors' lines are
counted by their own unit tests (tests/test_monitors*.py); what the corpora alone reach is left uncounted, which
can only make the reported coverage lower, never higher."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scientist.monitors.evaluate import EvalReport, evaluate_corpus

MONITOR_EVAL_GROUP = pytest.mark.xdist_group("monitor_eval")


@functools.cache
def evaluated(corpus: Path) -> EvalReport:
    """`evaluate_corpus(corpus)` with each case's own template or the default; read-only, so it is shared."""
    with _coverage_paused():
        return evaluate_corpus(corpus)


@contextlib.contextmanager
def _coverage_paused() -> Iterator[None]:
    """No line tracing in this thread for the block: the tracer is set aside and put back (coverage's CTracer can be
    re-installed with `sys.settrace`). Not `Coverage.current().stop()`: an xdist worker runs two coverage instances
    (pytest-cov's and the subprocess hook's), and stopping the current one resumes the other."""
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        yield
    finally:
        sys.settrace(tracer)
