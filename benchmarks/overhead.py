"""Harness overhead per stage, as a fraction of model time (goal: < 1 %).

For each pipeline node: wall time (node_start → node_end in the audit log) minus model time (latency of the calls
in that node: measured live, or the recorded live latency on replay) minus tool time (each sandbox call from its
`sandbox_run_start` to its `sandbox_run` record, container start and removal included, and pdflatex) is the
harness's own time. Printed as a ratio against the model time measured in the same run. The sandbox's own start-up
cost has its benchmark and goal (benchmarks/sandbox.py: docker < 0.5 s): counting it here as harness time made a
1-second stub answer look like 28 % harness overhead at the experiment stage.

A third run (`--stub`) goes through the OpenAI conformance stub (tests/openai_stub.py: strict schema rules
enforced) with litellm's openai/ provider, each answer held `--stub-latency` seconds as a stand-in for a hosted
model's latency: the harness's own time on the real HTTP path of a hosted model.

Usage: .venv/bin/python benchmarks/overhead.py [--live] [--stub] [--replay-store tests/fixtures/llm]
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
    from scientist.audit.log import AuditLog

    records = AuditLog(run_dir).records()
    starts: dict[str, float] = {}
    wall: dict[str, float] = defaultdict(float)
    model: dict[str, float] = defaultdict(float)
    sandbox: dict[str, float] = defaultdict(float)
    node = ""
    sandbox_started: float | None = None
    for record in records:
        payload = record.payload
        if record.kind == "node_start":
            node = payload["node"]
            starts[node] = _ts(record.ts)
        elif record.kind == "node_end":
            wall[payload["node"]] += _ts(record.ts) - starts.pop(payload["node"])
        elif record.kind == "llm_call":
            model[node] += float(payload["latency_s"])
        elif record.kind == "sandbox_run_start":
            sandbox_started = _ts(record.ts)
        elif record.kind == "sandbox_run" and sandbox_started is not None:
            sandbox[node] += _ts(record.ts) - sandbox_started  # the whole sandbox call, container lifecycle included
            sandbox_started = None
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


def run_stub(latency_s: float) -> Path:
    """The fixture run's settings, but every call over loopback HTTP to the strict conformance stub."""
    from scientist.config import load_settings
    from scientist.runner import start_run
    from tests.openai_stub import OpenAIStub, ScriptedReply, serve
    from tests.schema_answers import SchemaResponder

    class Slow(SchemaResponder):
        def __call__(self, request: dict[str, object]) -> ScriptedReply:
            reply = super().__call__(request)
            reply.delay_s = latency_s
            return reply

    work = Path(tempfile.mkdtemp(prefix="scientist-bench-stub-"))
    os.chdir(work)
    os.environ.update(FIXTURE_ENV)
    os.environ.update(SCIENTIST_LLM_MODE="live", SCIENTIST_LLM_CACHE_DIR=str(work / "store"))
    for stub in serve(OpenAIStub(responder=Slow())):
        settings = load_settings(model="openai/gpt-4o-mini", api_base=stub.base_url, api_key="sk-bench-0000")
        _info, run_dir = start_run(settings, FIXTURE_TOPIC)
        rejected = len(stub.rejected)
    print(f"conformance stub: {rejected} request(s) refused for breaking OpenAI's strict schema rules")
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
    parser.add_argument("--stub", action="store_true", help="also run over the OpenAI conformance stub")
    parser.add_argument("--stub-latency", type=float, default=1.0, help="seconds each stub answer is held")
    args = parser.parse_args()
    report("replayed run (model time = recorded live latency)", measure(run_once(False, args.replay_store)))
    if args.live:
        report("live run on the embedded model", measure(run_once(True, args.replay_store)))
    if args.stub:
        label = f"run over the conformance stub (openai/ provider, {args.stub_latency:g} s per answer)"
        report(label, measure(run_stub(args.stub_latency)))


if __name__ == "__main__":
    main()
