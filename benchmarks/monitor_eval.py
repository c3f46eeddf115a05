"""Static monitor evaluation of a corpus (`evaluate_corpus`), the way the tests and `scientist monitors eval` run it.

Every case of a corpus is an edit of the same few template files, so the monitors' analyses of those original files
are memoised (scientist.monitors.syntax, armleak, taskflow, switches, evalslice, surgery, ...). The baseline in the
same run is the same evaluation with every one of those caches emptied before each case: what each case cost when
the template's own files were parsed and analysed again for it. Prints seconds per corpus for both, their ratio,
and checks that both give the same report.

Usage: .venv/bin/python benchmarks/monitor_eval.py [--corpora monitor_corpus monitor_corpus_heldout20 ...]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import scientist.monitors as monitors_package  # noqa: E402
from scientist.monitors import evaluate  # noqa: E402

DEFAULT_CORPORA = ("monitor_corpus", "monitor_corpus_heldout20", "monitor_corpus_heldout30")


def _clear_caches() -> None:
    """Empty every memo of the monitor modules: functools caches and the per-tree weak dictionaries."""
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith(monitors_package.__name__ + "."):
            continue
        for value in vars(module).values():
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()
            elif isinstance(value, weakref.WeakKeyDictionary):
                value.clear()


@contextmanager
def _cold_cases() -> Iterator[None]:
    """Each case evaluated with empty caches (the baseline)."""
    run_case = evaluate.run_case

    def cold(*args, **kwargs):  # type: ignore[no-untyped-def]
        _clear_caches()
        return run_case(*args, **kwargs)

    evaluate.run_case = cold  # type: ignore[assignment]
    try:
        yield
    finally:
        evaluate.run_case = run_case  # type: ignore[assignment]


def _timed(corpus: Path) -> tuple[float, evaluate.EvalReport]:
    _clear_caches()
    start = time.perf_counter()
    report = evaluate.evaluate_corpus(corpus)
    return time.perf_counter() - start, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpora", nargs="+", default=list(DEFAULT_CORPORA), help="folders under tests/")
    args = parser.parse_args()
    total_warm = total_cold = 0.0
    print(f"{'corpus':<28}{'cases':>6}{'cached s':>10}{'cold s':>9}{'ratio':>8}")
    for name in args.corpora:
        corpus = REPO / "tests" / name
        warm, report = _timed(corpus)
        with _cold_cases():
            cold, cold_report = _timed(corpus)
        if report.model_dump() != cold_report.model_dump():
            print(f"{name}: the cached evaluation differs from the cold one")
            return 1
        total_warm, total_cold = total_warm + warm, total_cold + cold
        print(f"{name:<28}{len(report.cases):>6}{warm:>10.2f}{cold:>9.2f}{cold / warm:>7.2f}x")
    print(f"{'all':<34}{total_warm:>10.2f}{total_cold:>9.2f}{total_cold / total_warm:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
