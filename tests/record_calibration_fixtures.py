"""Record `scientist calibrate reviewer` on the embedded model: the first 10 papers of the shipped PeerRead set.

Runs the real CLI live in `record` mode (defaults: ensemble 2, no reflection, 2 few-shot examples, meta-review),
writing the model's answers into tests/fixtures/llm_calibration/ (replaced) and the report it printed into
tests/fixtures/reviews/calibration_report.json, which tests/test_calibration_replay.py must reproduce exactly.
30 calls, ~5 min on a quiet 2-core machine. Re-record after any change to the review prompt or form. Usage:
make record-calibration-fixtures
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import FIXTURES
from tests.test_calibration_replay import (
    CALIBRATION_FIXTURES,
    REPORT_FILE,
    calibrate,
    comparable,
)


def main() -> int:
    if CALIBRATION_FIXTURES.exists():
        shutil.rmtree(CALIBRATION_FIXTURES)
    CALIBRATION_FIXTURES.mkdir(parents=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        ran = calibrate(Path(work), CALIBRATION_FIXTURES, "record")
        print(ran.stderr[-3000:], file=sys.stderr)
        if ran.returncode != 0:
            return ran.returncode
        REPORT_FILE.write_text(json.dumps(comparable(json.loads(ran.stdout)), indent=1) + "\n", encoding="utf-8")
    minutes = (time.monotonic() - started) / 60
    count = len(list(CALIBRATION_FIXTURES.rglob("*.json")))
    where = CALIBRATION_FIXTURES.relative_to(FIXTURES.parent.parent)
    print(f"recorded {count} responses into {where} in {minutes:.1f} min (machine load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
