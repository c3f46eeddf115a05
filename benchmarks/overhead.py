"""Harness overhead per stage, as a fraction of model time (goal: < 1 %).

For each pipeline node: wall time (node_start → node_end in the audit log) minus model time (latency of the calls
in that node: measured live, or the recorded live latency on replay) minus tool time (sandbox runs
and pdflatex) is the harness's own time. Printed as a ratio against the model time measured in the same run.

Usage: .venv/bin/python benchmarks/overhead.py [--live] [--replay-store tests/fixtures/llm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import FIXTURE_ENV, FIXTURE_TOPIC, LLM_FIXTURES  # noqa: E402

STARTUP = "(start-up)"


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def measure(run_dir: Path) -> list[tuple[str, float, float, float, float]]:
    from scientist.audit import AuditLog

    records = AuditLog(run_dir).records()
    starts: dict[str, float] = {}
    wall: dict[str, float] = defaultdict(float)
    model: dict[str, float] = defaultdict(float)
    sandbox: dict[str, float] = defaultdict(float)
    node = ""
    for record in records:
        payload = record.payload
        if record.kind == "node_start":
            node = payload["node"]
            starts[node] = _ts(record.ts)
        elif record.kind == "node_end":
            wall[payload["node"]] += _ts(record.ts) - starts.pop(payload["node"])
        elif record.kind == "llm_call":
            model[node] += float(payload["latency_s"])
        elif record.kind in ("sandbox_run", "latex_compile"):
            sandbox[node] += float(payload.get("wall_time_s") or 0.0)
        elif record.kind == "warm_up":
            wall[STARTUP] += float(payload["seconds"])
    replayed = any(r.payload.get("replayed") for r in records if r.kind == "llm_call")
    rows = []
    for name, seconds in wall.items():
        # On replay the model latency was not spent in this process: only sandbox time is subtracted.
        harness = seconds - sandbox[name] - (0.0 if replayed else model[name])
        rows.append((name, seconds, model[name], sandbox[name], max(harness, 0.0)))
    return rows


def run_once(live: bool, store: Path) -> Path:
    from scientist.config import load_settings
    from scientist.runner import start_run

    work = Path(tempfile.mkdtemp(prefix="scientist-bench-"))
    os.chdir(work)
    os.environ.update(FIXTURE_ENV)
    if live:
        os.environ["SCIENTIST_LLM_MODE"] = "live"
    else:
        copy = work / "store"
        shutil.copytree(store, copy)
        os.environ.update(SCIENTIST_LLM_MODE="replay", SCIENTIST_LLM_CACHE_DIR=str(copy))
    _info, run_dir = start_run(load_settings(), FIXTURE_TOPIC)
    return run_dir


def report(label: str, rows: list[tuple[str, float, float, float, float]]) -> None:
    print(f"\n{label}")
    print(f"{'node':<11}{'wall s':>9}{'model s':>9}{'tools s':>11}{'harness s':>11}{'harness/model':>15}")
    total_model = total_harness = 0.0
    for name, wall, model, sandbox, harness in rows:
        ratio = f"{harness / model:.2%}" if model > 0 else "no model call"
        print(f"{name:<11}{wall:>9.3f}{model:>9.3f}{sandbox:>11.3f}{harness:>11.3f}{ratio:>15}")
        if name == STARTUP:
            continue  # once per process (imports, model load), not a cost of any stage
        total_model += model
        total_harness += harness
    if total_model:
        print(f"total excludes {STARTUP}: importing litellm and loading the embedded model, once per process")
        ratio = total_harness / total_model
        print(f"{'total':<11}{'':>9}{total_model:>9.3f}{'':>11}{total_harness:>11.3f}{ratio:>15.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live", action="store_true", help="also run live on the embedded model")
    parser.add_argument("--replay-store", type=Path, default=LLM_FIXTURES)
    args = parser.parse_args()
    report("replayed run (model time = recorded live latency)", measure(run_once(False, args.replay_store)))
    if args.live:
        report("live run on the embedded model", measure(run_once(True, args.replay_store)))


if __name__ == "__main__":
    main()
