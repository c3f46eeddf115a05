"""Re-record the model responses of the probe suite (tests/fixtures/probes/live.toml) on the embedded model.

Runs `scientist probe run` live in `record` mode, writing into tests/fixtures/llm_probes/ (replaced), with the
environment the replay test (tests/test_probe_suite_replay.py) uses, and writes what it scored into
tests/fixtures/probes/live_outcome.json, which the replay must reproduce. 12 probed runs that end before the paper,
plus a judge call each; run it on a quiet machine (llama.cpp is 10-30x slower under contention). Prints its
duration. Usage: make record-probe-fixtures
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import FIXTURES, chosen_sandbox
from tests.test_probe_suite_replay import OUTCOME_FILE, PROBE_FIXTURES, run_probe_suite, suite_outcome


def main() -> int:
    if PROBE_FIXTURES.exists():
        shutil.rmtree(PROBE_FIXTURES)
    PROBE_FIXTURES.mkdir(parents=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        ran, db = run_probe_suite(Path(work), PROBE_FIXTURES, "record", chosen_sandbox())
        print(ran.stdout[-4000:], ran.stderr[-4000:], sep="\n")
        if ran.returncode != 0:
            return ran.returncode
        OUTCOME_FILE.write_text(json.dumps(suite_outcome(db), indent=1) + "\n", encoding="utf-8")
    minutes = (time.monotonic() - started) / 60
    count = len(list(PROBE_FIXTURES.rglob("*.json")))
    print(f"recorded {count} responses into {PROBE_FIXTURES.relative_to(FIXTURES.parent.parent)} in {minutes:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
