"""Best-of-n wall time against the ideal, through the real gateway and a slow fake provider on loopback.

A loopback OpenAI-compatible server answers every request after a latency fixed by the request's seed
(`--latency-ms` ± `--jitter-ms`), so sample i is equally slow in every run. The single-sample latencies are
measured first, one draw at a time (concurrency 1); for each concurrency c the ideal wall time is then
max(slowest sample, total / c) (at c ≥ n: the slowest single sample) and the ratio measured / ideal is printed.
Goal: ≤ 1.1x at c ≥ n.

Also times the pool statistics the brief budgets (2000 bootstrap resamples x 64 values of k x N = 512, goal well
under 1 s), against a per-resample loop measured in the same run.

Usage: .venv/bin/python benchmarks/best_of_n.py [--n 8] [--latency-ms 200] [--jitter-ms 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pydantic import BaseModel  # noqa: E402


class Verdict(BaseModel):
    verdict: str
    score: int


def latency_for(seed: int, base_s: float, jitter_s: float) -> float:
    return base_s + jitter_s * random.Random(seed).uniform(-1.0, 1.0)


def _handler(base_s: float, jitter_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real provider

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            seed = int(body.get("seed") or 0)
            time.sleep(latency_for(seed, base_s, jitter_s))
            content = json.dumps({"verdict": f"seed {seed}", "score": seed % 10})
            payload = {
                "id": f"chatcmpl-{seed}",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "fake"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def slow_provider(base_s: float, jitter_s: float) -> Iterator[str]:
    """A loopback OpenAI-compatible server whose reply to seed s takes `latency_for(s)` seconds."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(base_s, jitter_s))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def bench_best_of_n(n: int, latency_ms: float, jitter_ms: float, repeats: int) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from scientist.config import Settings
    from scientist.llm.gateway import LLMGateway
    from scientist.measure.sampling import BestOfN

    base_s, jitter_s = latency_ms / 1000, jitter_ms / 1000
    with slow_provider(base_s, jitter_s) as url, tempfile.TemporaryDirectory() as tmp:
        values: dict[str, Any] = {
            "model": "openai/gpt-4o-mini",
            "api_base": url,
            "api_key": "sk-test-not-a-real-key-0000",
            "llm_cache_dir": Path(tmp) / "store",
            "llm_mode": "live",
            "transient_retries": 0,
            "max_tokens": 100,
        }
        gateway = LLMGateway(Settings(**values))

        def run(concurrency: int, seed: int) -> tuple[float, list[float]]:
            control = BestOfN(n=n, seed=seed, temperature=0.8, selector="max_field:score", concurrency=concurrency)
            result = control.run_structured(gateway, "review", {"paper": "A tiny paper."}, Verdict, stage="bench")
            assert all(c.error is None for c in result.candidates), [c.error for c in result.candidates]
            return result.wall_time_s, [c.latency_s for c in result.candidates]

        run(n, 10_000)  # warm-up: litellm import, HTTP connections
        seeds = 1000
        singles: list[list[float]] = []
        for _ in range(repeats):  # baseline: every sample alone
            singles.append(run(1, seeds)[1])
        single = [statistics.median(values) for values in zip(*singles, strict=True)]
        slowest, total = max(single), sum(single)
        injected = [latency_for(seeds + i, base_s, jitter_s) for i in range(n)]
        print(f"best-of-{n}, injected latency {latency_ms:.0f} ± {jitter_ms:.0f} ms (repeats: {repeats}, median)")
        print(
            f"  single samples: slowest {slowest * 1000:.1f} ms (injected {max(injected) * 1000:.1f}),"
            f" sum {total * 1000:.1f} ms; client overhead per call"
            f" {statistics.median(s - i for s, i in zip(single, injected, strict=True)) * 1000:.1f} ms"
        )
        print(f"  {'c':>3} {'wall ms':>9} {'ideal ms':>9} {'ratio':>6}  goal")
        for concurrency in sorted({1, 2, 4, 8, n, 2 * n}):
            walls = [run(concurrency, seeds)[0] for _ in range(repeats)]
            wall = statistics.median(walls)
            ideal = max(slowest, total / concurrency)
            goal = "≤ 1.10" if concurrency >= n else ""
            verdict = "" if not goal else ("ok" if wall / ideal <= 1.1 else "MISSED")
            print(f"  {concurrency:>3} {wall * 1000:>9.1f} {ideal * 1000:>9.1f} {wall / ideal:>6.3f}  {goal} {verdict}")


def bench_bootstrap() -> None:
    import numpy as np

    from scientist.measure.stats import CIMethod, _expected_max_sorted, bootstrap_expected_max

    rng = np.random.default_rng(0)
    pool, ks = rng.normal(size=512), np.arange(1, 65)
    bootstrap_expected_max(pool[:20], [1, 2])  # imports
    # Baseline: the obvious loop (one resample at a time, sorted, weighted), timed on 200 and scaled to 2000.
    started = time.perf_counter()
    for _ in range(200):
        _expected_max_sorted(np.sort(rng.choice(pool, size=pool.size)), ks)
    loop_s = (time.perf_counter() - started) * 10
    print("bootstrap of E[max of k]: 2000 resamples x 64 k x N = 512 (goal: well under 1 s)")
    print(f"  per-resample loop (baseline, scaled from 200): {loop_s:.3f} s")
    methods: tuple[CIMethod, ...] = ("percentile", "studentized", "bca")
    for method in methods:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            bootstrap_expected_max(pool, ks, n_resamples=2000, method=method)
            times.append(time.perf_counter() - started)
        best = min(times)
        print(f"  {method:<12} {best:.3f} s  ({loop_s / best:.1f}x faster than the loop)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--jitter-ms", type=float, default=40.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-stats", action="store_true")
    args = parser.parse_args()
    bench_best_of_n(args.n, args.latency_ms, args.jitter_ms, args.repeats)
    if not args.skip_stats:
        bench_bootstrap()


if __name__ == "__main__":
    main()
