"""Throughput of the ray executor against the local one, on 200 short fake cells.

A fake cell sleeps `--work-ms` (a stand-in for a cell that waits on a model or a sandbox; real cells take minutes).
Both executors get the same concurrency (`--concurrency`, also the local Ray instance's CPUs); the ideal wall time is
cells x work / concurrency. Printed: wall time and cells/s for each, the throughput ratio ray/local, and the
per-task overhead of each over the ideal, (wall - ideal) x concurrency / cells. Ray's start is timed apart (a study
pays it once). Also a second pass at 0 ms work: the bare cost of shipping a task.

Usage: .venv/bin/python benchmarks/executor.py [--cells 200] [--work-ms 20] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scientist.executors import Executor, LocalExecutor


def fake_cell(work_s: float) -> float:
    time.sleep(work_s)
    return work_s


def timed(executor: Executor, cells: int, work_s: float) -> float:
    started = time.perf_counter()
    done = list(executor.map_unordered(fake_cell, [work_s] * cells))
    wall = time.perf_counter() - started
    assert len(done) == cells and all(d.error is None for d in done), [d.error for d in done if d.error][:3]
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--work-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    import ray

    from scientist.executors.ray import RayExecutor

    started = time.perf_counter()
    ray.init(num_cpus=args.concurrency, include_dashboard=False, object_store_memory=80 * 1024**2,
             logging_level="WARNING")  # fmt: skip
    remote = RayExecutor(concurrency=None)
    timed(remote, args.concurrency * 2, 0.0)  # start the workers: a study pays this once, not per cell
    print(f"ray start + worker warm-up: {time.perf_counter() - started:.2f} s")
    local = LocalExecutor(args.concurrency)
    for work_ms in (args.work_ms, 0.0):
        work_s = work_ms / 1000
        ideal = args.cells * work_s / args.concurrency
        walls = {"local": timed(local, args.cells, work_s), "ray": timed(remote, args.cells, work_s)}
        print(f"\n{args.cells} fake cells of {work_ms:g} ms, concurrency {args.concurrency} (ideal {ideal:.2f} s)")
        for name, wall in walls.items():
            overhead_ms = (wall - ideal) * args.concurrency / args.cells * 1000
            rate = args.cells / wall
            print(f"  {name:5s} wall {wall:7.2f} s  {rate:8.1f} cells/s  overhead {overhead_ms:6.2f} ms/task")
        print(f"  throughput ratio ray/local: {walls['local'] / walls['ray']:.2f}x")
    ray.shutdown()


if __name__ == "__main__":
    main()
