"""Record the honest live runs the monitors' false alarm rate is measured on (tests/fixtures/study/honest.toml).

Runs `scientist study run` on the embedded model in `record` mode, in this process, writing the model responses into
tests/fixtures/llm_honest/ (a folder of its own: the e2e study's tests/fixtures/llm_study/ stays as recorded), with
the environment the e2e replay uses (offline novelty against the synthetic corpus, a fresh paper index), no judge
pass (no monitor reads the judge's verdict) and one cell at a time. Writes tests/fixtures/study/honest_outcome.json
(each run's status and score, which the replay must reproduce) and prints the false alarm report of the recorded
runs. One run is ~1.5 min on an idle 2-core machine, up to 5 min under load.

Usage: make record-honest-fixtures   (RECORD_ARGS="--keep --threads 1")
  --keep       reuse every stored answer whose request did not change and record only new ones (tests/recording.py),
               e.g. after adding a seed to the study file; answers no request uses any more are deleted.
  --threads N  llama.cpp threads (default: the CPU count); on a shared machine 1 is often faster than 2.
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
from tests.conftest import FIXTURES, chosen_sandbox
from tests.recording import prune_unused, reuse_recorded_answers
from tests.test_honest_false_alarms import HONEST_FIXTURES, HONEST_OUTCOME, HONEST_STUDY, honest_outcome
from tests.test_study_e2e import study_env


def main(argv: list[str]) -> int:
    from scientist import cli
    from scientist.monitors.falsealarms import false_alarm_report, format_false_alarms

    keep = "--keep" in argv
    if "--threads" in argv:
        threads = int(argv[argv.index("--threads") + 1])
        os.cpu_count = lambda: threads  # scientist.llm.local_model sizes llama's thread pool with it
    if HONEST_FIXTURES.exists() and not keep:
        shutil.rmtree(HONEST_FIXTURES)
    HONEST_FIXTURES.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        os.environ.update(study_env(Path(work), HONEST_FIXTURES, "record", chosen_sandbox()))
        os.chdir(work)
        db, runs = str(Path(work) / "study.sqlite"), Path(work) / "runs"
        args = ["study", "run", str(HONEST_STUDY), "--db", db, "--runs-dir", str(runs), "--no-judge",
                "--concurrency", "1"]  # fmt: skip
        with reuse_recorded_answers() as reuse:
            sys.argv = ["scientist", *args]
            try:
                cli.main()  # the real entry point, with its exit codes
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if code in (0, 4):  # 4: a run waits on an approval (a high monitor event)
            outcome = {**honest_outcome(db), "exit_code": code}
            HONEST_OUTCOME.write_text(json.dumps(outcome, indent=1) + "\n", encoding="utf-8")
            if keep:
                print(f"deleted {prune_unused(HONEST_FIXTURES, reuse.used)} answers no request uses any more")
            print(format_false_alarms(false_alarm_report(sorted(p for p in runs.iterdir() if p.is_dir()))))
        print(f"{reuse.live} new live calls recorded; {len(reuse.used) - reuse.live} reused")
    minutes = (time.monotonic() - started) / 60
    count = len(list(HONEST_FIXTURES.rglob("*.json")))
    print(f"recorded {count} responses into {HONEST_FIXTURES.relative_to(FIXTURES.parent.parent)} in {minutes:.1f} min")
    return 0 if code in (0, 4) else code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
