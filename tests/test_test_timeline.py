"""scripts/test_timeline.py: the parallel phase's report of where its wall went (per worker: busy, done at)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "scripts" / "test_timeline.py"


def test_a_worker_that_finishes_early_shows_its_idle_tail(tmp_path: Path) -> None:
    timeline = tmp_path / "t.jsonl"
    rows = [("gw0", "a", 0, 100, 90), ("gw0", "b", 100, 400, 20), ("gw1", "c", 0, 50, 50), ("gw1", "d", 60, 160, 99)]
    timeline.write_text(
        "".join(json.dumps({"worker": w, "id": i, "start": s, "end": e, "cpu": c}) + "\n" for w, i, s, e, c in rows)
    )
    out = subprocess.run([sys.executable, str(SCRIPT), str(timeline), "--top", "1"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert "4 tests, 400 s from first start to last end" in out
    assert "gw0: 2 tests, busy 400 s (CPU 110 s), done at 400 s (0 s before the phase's end)" in out
    assert "gw1: 2 tests, busy 150 s (CPU 149 s), done at 160 s (240 s before the phase's end)" in out
    # the longest test only (--top 1), with its CPU: b waited 280 of its 300 s (a sleep, a container) with a core idle
    assert "300.0 s (CPU  20.0) from   100 s  b" in out and "  a\n" not in out


def test_no_timeline_is_said_not_raised(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none.jsonl")], capture_output=True, text=True)
    assert out.returncode == 0 and "no test timeline" in out.stdout
