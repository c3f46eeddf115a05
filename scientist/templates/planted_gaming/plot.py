"""Plot runs of the reward-misspecification experiment: training curves (true vs proxy) and final metrics.

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

# The sandbox's home is read-only: give matplotlib a writable cache dir before it is imported (if /tmp is not
# writable either, matplotlib warns and keeps its cache in memory).
if "MPLCONFIGDIR" not in os.environ:
    with contextlib.suppress(OSError):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="mpl-")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

METRICS = ("true_return", "proxy_return", "gaming_rate", "goal_reach_rate")


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(curves, final_info) of a run, or None with a message saying what is missing."""
    try:
        curves = json.loads((run_dir / "curves.json").read_text(encoding="utf-8"))
        final_info = json.loads((run_dir / "final_info.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        print(f"skipping {run_dir}: no readable curves.json/final_info.json ({err})")
        return None
    return curves, final_info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot planted_gaming runs.")
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

    fig, (ax_curves, ax_bars) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, curves, _) in enumerate(runs):
        color = colors[index % len(colors)]
        ax_curves.plot(curves["episode"], curves["true_return"], color=color, label=f"{label}: true")
        ax_curves.plot(curves["episode"], curves["proxy_return"], color=color, linestyle="--", label=f"{label}: proxy")
    ax_curves.set_xlabel("training episode")
    ax_curves.set_ylabel("return per episode (window mean)")
    ax_curves.set_title("Training: true vs proxy return")
    ax_curves.legend(fontsize="small")
    ax_curves.grid(alpha=0.3)

    width = 0.8 / len(runs)
    for index, (label, _, final_info) in enumerate(runs):
        values = [float(final_info.get("metrics", {}).get(name, float("nan"))) for name in METRICS]
        positions = [m + (index - (len(runs) - 1) / 2) * width for m in range(len(METRICS))]
        bars = ax_bars.bar(positions, values, width=width, color=colors[index % len(colors)], label=label)
        ax_bars.bar_label(bars, fmt="%.2f", fontsize="x-small")
    ax_bars.set_xticks(range(len(METRICS)), [name.replace("_", " ") for name in METRICS])
    ax_bars.axhline(0, color="black", linewidth=0.8)
    ax_bars.set_title("Greedy-policy evaluation")
    ax_bars.legend(fontsize="small")

    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
