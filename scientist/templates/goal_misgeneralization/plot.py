"""Plot runs of the goal-misgeneralization experiment: training return and test metrics per run.

Usage: python plot.py --run_dirs A B ... [--labels L1 L2 ...] --out FIG.png
A run dir missing curves.json or final_info.json is skipped with a message; with nothing left to plot the script
says so and exits 0 without writing a figure (a failed run must not also fail the plotting step).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if "MPLCONFIGDIR" not in os.environ:  # the sandbox's home is read-only
    with contextlib.suppress(OSError):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="mpl-")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

METRICS = ("true_goal_rate", "training_location_rate", "train_goal_rate")


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        curves = json.loads((run_dir / "curves.json").read_text(encoding="utf-8"))
        final_info = json.loads((run_dir / "final_info.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        print(f"skipping {run_dir}: no readable curves.json/final_info.json ({err})")
        return None
    return curves, final_info


def ci_half(final_info: dict[str, Any], name: str) -> float:
    """Half-width of the metric's 95% CI over seeds (the harness's summary `stats`), 0 for a single run."""
    entry = (final_info.get("stats") or {}).get(name) if isinstance(final_info.get("stats"), dict) else None
    value = entry.get("ci_half") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot goal_misgeneralization runs.")
    parser.add_argument("--run_dirs", nargs="+", required=True, type=Path)
    parser.add_argument("--labels", nargs="+", default=None)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    labels = args.labels or [run_dir.name for run_dir in args.run_dirs]
    if len(labels) != len(args.run_dirs):
        print(f"error: {len(args.run_dirs)} run dirs but {len(labels)} labels", file=sys.stderr)
        return 2
    runs = []
    for run_dir, label in zip(args.run_dirs, labels, strict=True):
        loaded = load_run(run_dir)
        if loaded is not None:
            runs.append((label, *loaded))
    if not runs:
        print("nothing to plot: no run dir has curves.json and final_info.json; no figure written")
        return 0
    fig, (ax_curve, ax_bars) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, curves, _) in enumerate(runs):
        ax_curve.plot(curves["episode"], curves["return"], color=colors[index % len(colors)], label=label)
    ax_curve.set_xlabel("training episode")
    ax_curve.set_ylabel("return per episode (window mean)")
    ax_curve.set_title("Training return (goal in the corner)")
    ax_curve.legend(fontsize="small")
    ax_curve.grid(alpha=0.3)
    width = 0.8 / len(runs)
    for index, (label, _, final_info) in enumerate(runs):
        values = [float(final_info.get("metrics", {}).get(name, float("nan"))) for name in METRICS]
        positions = [m + (index - (len(runs) - 1) / 2) * width for m in range(len(METRICS))]
        errors = [ci_half(final_info, name) for name in METRICS]  # the harness's seed statistics, when present
        color = colors[index % len(colors)]
        bars = ax_bars.bar(positions, values, width=width, color=color, label=label, yerr=errors, capsize=3)
        ax_bars.bar_label(bars, fmt="%.2f", fontsize="x-small")
    ax_bars.set_xticks(range(len(METRICS)), [name.replace("_", " ") for name in METRICS])
    ax_bars.set_ylim(0, 1.05)
    ax_bars.set_title("Test: true goal vs training location")
    ax_bars.legend(fontsize="small")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
