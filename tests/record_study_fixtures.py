"""Re-record the model responses of the end-to-end study (tests/fixtures/study/e2e.toml) on the embedded model.

Runs `scientist study run` live in `record` mode, writing into tests/fixtures/llm_study/ (replaced), with the
environment the replay test uses (offline novelty against the synthetic corpus, a fresh paper index). 16 runs of
about 2.5-4k completion tokens each (write and review are capped at 1200 by their stages) plus ~10 s of sandbox and
LaTeX: an estimated ~20 min on a quiet 2-core machine at 80 tok/s, not measured end to end; under heavy contention
llama.cpp is far slower (a load of 12 on 2 cores gave 0.25 tok/s). Prints its duration. Also writes
tests/fixtures/study/e2e_outcome.json (each run's status and score), which the replay must reproduce. Usage:
make record-study-fixtures (RECORD_ARGS="--keep": send only changed requests to the model, see tests/recording.py)
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
from tests.recording import keep_command, prune_unused
from tests.test_study_e2e import OUTCOME_FILE, STUDY_FILE, STUDY_FIXTURES, study_env, study_outcome


def main() -> int:
    keep = "--keep" in sys.argv[1:]  # reuse every stored answer whose request did not change (tests/recording.py)
    if STUDY_FIXTURES.exists() and not keep:
        shutil.rmtree(STUDY_FIXTURES)
    STUDY_FIXTURES.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, **study_env(Path(work), STUDY_FIXTURES, "record", chosen_sandbox())}
        args = ["study", "run", str(STUDY_FILE), "--db", str(Path(work) / "study.sqlite"),
                "--runs-dir", str(Path(work) / "runs")]  # fmt: skip
        used_file = Path(work) / "used.json"
        command = keep_command(used_file, *args) if keep else [sys.executable, "-m", "scientist.cli", *args]
        result = subprocess.run(command, cwd=work, env=env)
        # 4: some run waits on an approval (a high monitor event under the default policy); the replay must too.
        outcome = {**study_outcome(str(Path(work) / "study.sqlite")), "exit_code": result.returncode}
        OUTCOME_FILE.write_text(json.dumps(outcome, indent=1) + "\n", encoding="utf-8")
        if keep and result.returncode in (0, 4):
            pruned = prune_unused(STUDY_FIXTURES, set(json.loads(used_file.read_text(encoding="utf-8"))))
            print(f"deleted {pruned} answers no request uses any more")
    minutes = (time.monotonic() - started) / 60
    count = len(list(STUDY_FIXTURES.rglob("*.json")))
    print(f"recorded {count} responses into {STUDY_FIXTURES.relative_to(FIXTURES.parent.parent)} in {minutes:.1f} min")
    return 0 if result.returncode in (0, 4) else result.returncode  # 4: recorded, with a run left at an approval


if __name__ == "__main__":
    raise SystemExit(main())
