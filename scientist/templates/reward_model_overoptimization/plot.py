"""Plot reward_model_overoptimization runs: gold and proxy reward of best-of-n against log2 n, per run.

Usage: python plot.py --run_dirs A B ... [--labels L1 L2 ...] --out FIG.png
Reads each run dir's final_info.json: the evaluator's `curves`, or, for the harness's summary over seeds, the
seeds' curves (mean with a band of +- one standard deviation: the error bars). A run dir without them is skipped
with a message; with nothing left the script says so and exits 0 without a figure.
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
import numpy as np


def seed_curves(final_info: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(final_info.get("curves"), dict):
        return [final_info["curves"]]
    found = []
    for entry in final_info.get("per_seed") or []:
        curves = (entry.get("details") or {}).get("curves") if isinstance(entry, dict) else None
        if isinstance(curves, dict):
            found.append(curves)
    return found


def load_run(run_dir: Path) -> dict[str, np.ndarray] | None:
    try:
        final_info = json.loads((run_dir / "final_info.json").read_text(encoding="utf-8"))
        curves = seed_curves(final_info)
        if not curves:
            raise ValueError("no gold/proxy curves in final_info.json")
        x = np.asarray(curves[0]["log2_n"], dtype=float)
        gold = np.asarray([c["gold"] for c in curves], dtype=float)
        proxy = np.asarray([c["proxy"] for c in curves], dtype=float)
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"skipping {run_dir}: no usable final_info.json ({err})")
        return None
    return {"x": x, "gold": gold.mean(0), "gold_sd": gold.std(0), "proxy": proxy.mean(0), "seeds": len(curves)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot reward_model_overoptimization runs.")
    parser.add_argument("--run_dirs", nargs="+", required=True, type=Path)
    parser.add_argument("--labels", nargs="+", default=None)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    labels = args.labels or [run_dir.name for run_dir in args.run_dirs]
    if len(labels) != len(args.run_dirs):
        print(f"error: {len(args.run_dirs)} run dirs but {len(labels)} labels", file=sys.stderr)
        return 2
    runs = [(label, run) for label, d in zip(labels, args.run_dirs, strict=True) if (run := load_run(d)) is not None]
    if not runs:
        print("nothing to plot: no run dir has gold/proxy curves; no figure written")
        return 0
    fig, (ax_gold, ax_proxy) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, run) in enumerate(runs):
        color = colors[index % len(colors)]
        name = f"{label} ({run['seeds']} seed{'s' if run['seeds'] > 1 else ''})"
        ax_gold.plot(run["x"], run["gold"], marker="o", color=color, label=name)
        if run["seeds"] > 1:
            low, high = run["gold"] - run["gold_sd"], run["gold"] + run["gold_sd"]
            ax_gold.fill_between(run["x"], low, high, color=color, alpha=0.2)
        ax_proxy.plot(run["x"], run["proxy"], marker="o", color=color, label=name)
    ax_gold.set_title("Gold reward of best-of-n (harness evaluator)")
    ax_proxy.set_title("Proxy score of best-of-n")
    for axis in (ax_gold, ax_proxy):
        axis.set_xlabel("log2 n (optimisation pressure)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
