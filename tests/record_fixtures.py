"""Re-record the model responses the replay tests use (run after changing a prompt, schema or template).

Runs the fixture research run live on the embedded model in `record` mode, writing into tests/fixtures/llm/.
Usage: .venv/bin/python tests/record_fixtures.py [--keep] [--threads N]

--keep reuses every recorded answer whose request did not change (seeded generation is deterministic, so a live
call would give the same answer) and records only the new requests; answers no request used any more are deleted.
It runs the pipeline in this process so it can look up the store first. Without it, everything is recorded afresh.
--threads N (with --keep) runs llama.cpp on N threads: on a machine busy with other work, 1 thread is many times
faster than 2 that keep waiting for each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import FIXTURE_ENV, FIXTURE_TOPIC, LLM_FIXTURES, chosen_sandbox
from tests.recording import prune_unused, reuse_recorded_answers


def _record_env(work: str) -> dict[str, str]:
    env = {**FIXTURE_ENV, "SCIENTIST_LLM_MODE": "record", "SCIENTIST_SANDBOX": chosen_sandbox()}
    env["SCIENTIST_LLM_CACHE_DIR"] = str(LLM_FIXTURES)
    # A fresh paper index and arXiv cache, as in the tests: the novelty prompts must see the same papers.
    env["SCIENTIST_INDEX_DIR"] = str(Path(work) / "index")
    env["SCIENTIST_ARXIV_CACHE_DIR"] = str(Path(work) / "arxiv")
    return env


def _record_changed_only(work: str) -> int:
    from scientist.cli import app

    if "--threads" in sys.argv:
        threads = int(sys.argv[sys.argv.index("--threads") + 1])
        os.cpu_count = lambda: threads  # local_model sizes llama's thread pool with it
    os.environ.update(_record_env(work))
    os.chdir(work)
    with reuse_recorded_answers() as reuse:
        try:
            app(["run", FIXTURE_TOPIC], standalone_mode=False)
            code = 0
        except Exception as err:  # the run's own error: report it, keep what was recorded
            print(f"run failed: {err}", file=sys.stderr)
            code = 1
    if code == 0:
        prune_unused(LLM_FIXTURES, reuse.used)
    print(f"{reuse.live} new live calls recorded; {len(reuse.used) - reuse.live} reused")
    return code


def main() -> int:
    keep = "--keep" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as work:
        if keep:
            code = _record_changed_only(work)
        else:
            if LLM_FIXTURES.exists():
                shutil.rmtree(LLM_FIXTURES)
            LLM_FIXTURES.mkdir(parents=True)
            env = {**os.environ, **_record_env(work)}
            command = [sys.executable, "-m", "scientist.cli", "run", FIXTURE_TOPIC]
            code = subprocess.run(command, cwd=work, env=env).returncode
    print(f"recorded {len(list(LLM_FIXTURES.rglob('*.json')))} responses into {LLM_FIXTURES}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
