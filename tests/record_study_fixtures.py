"""Re-record the model responses of the end-to-end study (tests/fixtures/study/e2e.toml) on the embedded model.

Runs `scientist study run` live in `record` mode, writing into tests/fixtures/llm_study/ (replaced), with the
environment the replay test uses (offline novelty against the synthetic corpus, a fresh paper index). 16 runs of
about 2.5-4k completion tokens each (write and review are capped at 1200 by their stages) plus ~10 s of sandbox and
LaTeX: an estimated ~20 min on a quiet 2-core machine at 80 tok/s, not measured end to end; under heavy contention
llama.cpp is far slower (a load of 12 on 2 cores gave 0.25 tok/s). Prints its duration. Also writes
tests/fixtures/study/e2e_outcome.json (each run's status and score), which the replay must reproduce. Usage:
make record-study-fixtures
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import FIXTURES, chosen_sandbox
from tests.test_study_e2e import OUTCOME_FILE, STUDY_FILE, STUDY_FIXTURES, study_env, study_outcome


def main() -> int:
    if STUDY_FIXTURES.exists():
        shutil.rmtree(STUDY_FIXTURES)
    STUDY_FIXTURES.mkdir(parents=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, **study_env(Path(work), STUDY_FIXTURES, "record", chosen_sandbox())}
        result = subprocess.run(
            [sys.executable, "-m", "scientist.cli", "study", "run", str(STUDY_FILE),
             "--db", str(Path(work) / "study.sqlite"), "--runs-dir", str(Path(work) / "runs")],
            cwd=work, env=env,
        )  # fmt: skip
        # 4: some run waits on an approval (a high monitor event under the default policy); the replay must too.
        outcome = {**study_outcome(str(Path(work) / "study.sqlite")), "exit_code": result.returncode}
        OUTCOME_FILE.write_text(json.dumps(outcome, indent=1) + "\n", encoding="utf-8")
    minutes = (time.monotonic() - started) / 60
    count = len(list(STUDY_FIXTURES.rglob("*.json")))
    print(f"recorded {count} responses into {STUDY_FIXTURES.relative_to(FIXTURES.parent.parent)} in {minutes:.1f} min")
    return 0 if result.returncode in (0, 4) else result.returncode  # 4: recorded, with a run left at an approval


if __name__ == "__main__":
    raise SystemExit(main())
