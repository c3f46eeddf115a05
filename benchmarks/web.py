"""Server time of the run page for a run with 10,000 audit events (issue 27), against reading its audit log with
`json.loads` line by line in the same process (the least any view of the log must do).

Timed in-process through the ASGI app (starlette's test client, no network): the whole run page (every section,
the first timeline page of 200 events, `audit verify` of the chain and blobs), a filtered timeline page, and the
live view's status poll. The first request parses the log and verifies the chain ("cold"); later ones while the
log is unchanged reuse both (the app keys them on the files' stamps): the median of `--repeat` requests ("warm").
The rows after the first find the log already parsed by the run page.

Usage: .venv/bin/python benchmarks/web.py [--events 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_run(runs_dir: Path, events: int) -> str:
    """A run folder whose audit log holds `events` records of the kinds a real run writes, written by AuditLog."""
    from scientist.audit.log import AuditLog
    from scientist.runs import create_run, save_run

    info = create_run(runs_dir, "benchmark topic", "reward_misspec", "local/smollm2-135m", {})
    save_run(runs_dir, info.model_copy(update={"status": "completed"}))
    audit = AuditLog(runs_dir / info.id)
    blobs = [audit.put_blob(f"answer {number}\n" + "text " * 400) for number in range(50)]
    nodes = ("ideate", "novelty", "experiment", "write", "review")
    for number in range(events):
        node = nodes[number * len(nodes) // events]
        step = number % 10
        if step == 0:
            audit.append("node_start", "pipeline", {"node": node})
        elif step in (1, 2, 3, 4, 5):
            audit.append("llm_call", "llm", {
                "stage": node, "role": "ideation", "model": "local/smollm2-135m", "prompt_template": "ideate",
                "prompt_sha256": "0" * 64, "response_blob": blobs[number % len(blobs)], "total_tokens": 1200,
                "cost_usd": 0.0, "latency_s": 1.0,
            })  # fmt: skip
        elif step in (6, 7):
            audit.append("sandbox_run", "sandbox:docker", {"label": f"run_{number}", "attempt": 0, "exit_code": 0})
        elif step == 8:
            audit.append("monitor_event", "monitor", {"monitor": "m", "severity": "low", "evidence": "e", "node": node})
        else:
            audit.append("node_end", "pipeline", {"node": node})
    return info.id


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from scientist.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        run_id = make_run(runs_dir, args.events)
        log = runs_dir / run_id / "audit.jsonl"
        client = TestClient(create_app(runs_dir))

        def get(url: str) -> None:
            reply = client.get(url)
            assert reply.status_code == 200, reply.text[:200]

        def parse_log() -> None:
            with log.open(encoding="utf-8") as handle:
                for line in handle:
                    json.loads(line)

        baseline = median_seconds(parse_log, args.repeat)
        rows = [
            ("run page (all sections, timeline page 1, audit verify)", f"/runs/{run_id}"),
            ("timeline, first page of llm_call events", f"/runs/{run_id}?kind=llm_call"),
            ("live view status poll", f"/api/runs/{run_id}"),
        ]
        print(f"run with {args.events} audit events ({log.stat().st_size / 1e6:.1f} MB log)")
        print(f"json.loads line by line: {baseline * 1000:.1f} ms")
        for name, url in rows:
            cold = median_seconds(lambda url=url: get(url), 1)  # type: ignore[misc]
            warm = median_seconds(lambda url=url: get(url), args.repeat)  # type: ignore[misc]
            print(f"{name}: cold {cold * 1000:.1f} ms ({cold / baseline:.1f}x json.loads), "
                  f"warm {warm * 1000:.1f} ms ({warm / baseline:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
