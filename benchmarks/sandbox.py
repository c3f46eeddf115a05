"""Sandbox overhead per backend: start-to-exit time of a trivial script, against a bare `subprocess` run of the
same script measured in the same process, and the time from wall-clock expiry to the run being reported killed.

Goals (issue 4): docker < 0.5 s overhead, local (bubblewrap) < 50 ms. `unsafe-subprocess` (no isolation) is shown
for reference: what the supervision alone (rlimits, wall clock, output hashing) costs.

Usage: .venv/bin/python benchmarks/sandbox.py [--runs 10] [--backends unsafe-subprocess,local,docker]
A backend this machine lacks (no Docker engine, no image) is reported and skipped.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GOALS_S = {"docker": 0.5, "local": 0.05}


def bare(script: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script)], cwd=script.parent, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def sandboxed(name: str, root: Path, script_text: str, runs: int, wall_s: float = 30.0) -> tuple[list[float], float]:
    """Median-able run times (after one warm-up run) and the kill latency past a 1 s wall clock."""
    from scientist.sandbox import Limits, get_sandbox

    sandbox = get_sandbox(name)
    template = root / name / "template"
    template.mkdir(parents=True)
    (template / "main.py").write_text(script_text)
    (template / "sleep.py").write_text("import time\ntime.sleep(60)\n")
    workspace = root / name / "workspace"
    sandbox.prepare(template, workspace, [])
    logs = root / name / "logs"
    limits = Limits(wall_time_s=wall_s)
    sandbox.run(workspace, ["python", "main.py"], limits, out_dir="out", log_dir=logs)  # warm caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = sandbox.run(workspace, ["python", "main.py"], limits, out_dir="out", log_dir=logs)
        times.append(time.perf_counter() - start)
        assert result.ok, result.stderr_tail
    start = time.perf_counter()
    result = sandbox.run(workspace, ["python", "sleep.py"], Limits(wall_time_s=1), out_dir="out", log_dir=logs)
    kill_latency = time.perf_counter() - start - 1.0
    assert result.timed_out
    return times, kill_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--backends", default="unsafe-subprocess,local,docker")
    parser.add_argument("--imports", action="store_true", help="the script imports numpy, scipy and matplotlib")
    args = parser.parse_args()
    from scientist.errors import SandboxError

    script_text = "import numpy, scipy.stats, matplotlib.pyplot\n" if args.imports else "pass\n"
    with tempfile.TemporaryDirectory(prefix="scientist-bench-") as tmp:
        root = Path(tmp)
        script = root / "bare.py"
        script.write_text(script_text)
        bare(script, 1)
        base = statistics.median(bare(script, args.runs))
        print(f"script: {script_text.strip()!r}; {args.runs} runs each, medians")
        header = f"{'backend':<17} {'start-to-exit':>14} {'overhead':>10} {'ratio':>7} {'goal':>8}"
        print(f"{header} {'kill after expiry':>18}")
        if args.imports:
            print("(--imports: the baseline imports this venv's numpy/scipy/matplotlib; the isolated backends import")
            print(" the image's Debian builds, so the ratio compares library versions too)")
        print(f"{'subprocess':<17} {base * 1000:>11.1f} ms {'-':>10} {1.0:>6.2f}x {'':>8} {'-':>18}")
        for name in args.backends.split(","):
            try:
                times, kill = sandboxed(name, root, script_text, args.runs)
            except SandboxError as err:
                print(f"{name:<17} skipped: {err}")
                continue
            median = statistics.median(times)
            overhead = median - base
            goal = GOALS_S.get(name)
            verdict = "" if goal is None else ("ok" if overhead < goal else "MISSED") + f" <{goal * 1000:.0f}ms"
            print(
                f"{name:<17} {median * 1000:>11.1f} ms {overhead * 1000:>7.1f} ms {median / base:>6.2f}x "
                f"{verdict:>8} {kill * 1000:>15.0f} ms"
            )


if __name__ == "__main__":
    main()
