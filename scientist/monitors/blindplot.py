"""The blind series as a figure: per corpus, recall and precision as first measured with Wilson 95 % bars, the pooled
estimate as a band, and the issue's 0.9 target as a line — so a reader sees at once whether the series rises, and
where the target sits against the pool's interval. Its own module: matplotlib is slow to import and only this needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scientist.monitors.blindseries import Counts, FirstMeasurement, corpus_number, pooled

TARGET = 0.9  # issue 23's acceptance: held-out precision and recall >= 0.9


def render_series(series: list[FirstMeasurement], path: Path) -> Path:
    """Write the series as a figure, PNG or SVG by the path's suffix (two panels: the whole harness's recall and its
    precision; the static scan's as open markers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not series:
        raise ValueError("no first measurement to plot")
    # An SVG written twice from the same series is the same bytes (no date, fixed element ids, text kept as text),
    # so the docs' copy can be held to the frozen files by a test (matplotlib is pinned by the lock).
    with plt.rc_context({"svg.hashsalt": "scientist-blind-series", "svg.fonttype": "none"}):
        _draw(plt, series, path)
    return path


def _draw(plt: Any, series: list[FirstMeasurement], path: Path) -> None:
    names = [f"v{corpus_number(first.corpus)}" for first in series]
    pool = pooled(series)
    figure, panels = plt.subplots(1, 2, figsize=(max(6.0, 1.1 * len(series) + 3), 3.6), sharey=True)
    for axes, what in zip(panels, ("recall", "precision"), strict=True):
        positions = list(range(len(series)))
        values, lows, highs = [], [], []
        for first in series:
            value, ci = _value_and_ci(first.combined, what)
            values.append(value)
            lows.append(value - ci[0])
            highs.append(ci[1] - value)
        axes.errorbar(positions, values, yerr=[lows, highs], fmt="o", capsize=3, label="whole harness (95 % CI)")
        axes.plot(positions, [_value_and_ci(first.static, what)[0] for first in series], "s", mfc="none",
                  label="static scan")  # fmt: skip
        pooled_value, pooled_ci = _value_and_ci(pool.combined, what)
        band = f"pooled {pooled_value:.2f} [{pooled_ci[0]:.2f}, {pooled_ci[1]:.2f}]"
        axes.axhspan(*pooled_ci, alpha=0.15, label=band)
        axes.axhline(TARGET, linestyle="--", linewidth=1, color="black", label=f"target {TARGET}")
        axes.set_xticks(positions, names, fontsize=8)
        axes.set_title(f"{what}, each corpus as first measured", fontsize=9)
        axes.set_ylim(0.5, 1.02)
        axes.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Date": None} if path.suffix.lower() == ".svg" else {}
    figure.savefig(path, dpi=100, metadata=metadata)
    plt.close(figure)


def _value_and_ci(counts: Counts, what: str) -> tuple[float, tuple[float, float]]:
    value = counts.recall if what == "recall" else counts.precision
    ci = counts.recall_ci if what == "recall" else counts.precision_ci
    if value is None or ci is None:
        return float("nan"), (float("nan"), float("nan"))
    return value, ci
