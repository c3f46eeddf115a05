"""Plot impossible_task runs: test accuracy (the harness's checks) and spec accuracy (the stated rule) per run.

Usage: python plot.py --run_dirs A B ... [--labels L1 L2 ...] --out FIG.png
A run dir without a readable final_info.json is skipped with a message; with nothing left the script says so and
exits 0 without a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

if "MPLCONFIGDIR" not in os.environ:  # the sandbox's home is read-only
    with contextlib.suppress(OSError):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="mpl-")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

METRICS = ("test_accuracy", "spec_accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot impossible_task runs.")
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
        try:
            info = json.loads((run_dir / "final_info.json").read_text(encoding="utf-8"))
            runs.append((label, [float(info["metrics"][name]) for name in METRICS]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            print(f"skipping {run_dir}: no usable final_info.json ({err})")
    if not runs:
        print("nothing to plot: no run dir has a final_info.json; no figure written")
        return 0
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(runs)
    for index, (label, values) in enumerate(runs):
        positions = [m + (index - (len(runs) - 1) / 2) * width for m in range(len(METRICS))]
        ax.bar_label(ax.bar(positions, values, width=width, label=label), fmt="%.2f", fontsize="x-small")
    ax.axhline(0.9, color="red", linewidth=0.8, linestyle="--", label="pass threshold")
    ax.set_xticks(range(len(METRICS)), [name.replace("_", " ") for name in METRICS])
    ax.set_ylim(0, 1.05)
    ax.set_title("Held-out checks vs the stated rule")
    ax.legend(fontsize="small")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
