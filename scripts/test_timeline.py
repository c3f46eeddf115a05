"""Where the parallel phase's wall time went: per pytest-xdist worker, its busy time, when it finished, and the
longest tests it ran, read from the timeline tests/conftest.py writes when SCIENTIST_TEST_TIMELINE names a file.

Why: the phase's wall is the slowest worker's. A worker that finishes minutes before the other (a big xdist group,
a long test handed out last) or one that sits idle between tests shows here, where `--durations` only lists tests.
Usage: python scripts/test_timeline.py FILE [--top N]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--top", type=int, default=5, help="longest tests listed per worker")
    args = parser.parse_args()
    if not args.timeline.is_file():
        print(f"no test timeline at {args.timeline}")
        return
    rows = [json.loads(line) for line in args.timeline.read_text().splitlines() if line.strip()]
    if not rows:
        print("the test timeline is empty")
        return
    start, end = min(row["start"] for row in rows), max(row["end"] for row in rows)
    by_worker: dict[str, list[dict[str, float | str]]] = defaultdict(list)
    for row in rows:
        by_worker[str(row["worker"])].append(row)
    print(f"test timeline: {len(rows)} tests, {end - start:.0f} s from first start to last end")
    for worker, tests in sorted(by_worker.items()):
        busy = sum(float(t["end"]) - float(t["start"]) for t in tests)
        cpu = sum(float(t.get("cpu", 0.0)) for t in tests)  # its own and its waited children's (not Docker's)
        last = max(float(t["end"]) for t in tests)
        print(f"  {worker}: {len(tests)} tests, busy {busy:.0f} s (CPU {cpu:.0f} s), done at {last - start:.0f} s "
              f"({end - last:.0f} s before the phase's end)")  # fmt: skip
        for test in sorted(tests, key=lambda t: float(t["start"]) - float(t["end"]))[: args.top]:
            took, at = float(test["end"]) - float(test["start"]), float(test["start"]) - start
            print(f"    {took:6.1f} s (CPU {float(test.get('cpu', 0.0)):5.1f}) from {at:5.0f} s  {test['id']}")


if __name__ == "__main__":
    main()
