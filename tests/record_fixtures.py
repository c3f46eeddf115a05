"""Re-record the model responses the replay tests use (run after changing a prompt, schema or template).

Runs the fixture research run live on the embedded model in `record` mode, writing into tests/fixtures/llm/.
Usage: .venv/bin/python tests/record_fixtures.py
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


def main() -> int:
    if LLM_FIXTURES.exists():
        shutil.rmtree(LLM_FIXTURES)
    LLM_FIXTURES.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, **FIXTURE_ENV, "SCIENTIST_LLM_MODE": "record", "SCIENTIST_SANDBOX": chosen_sandbox()}
        env["SCIENTIST_LLM_CACHE_DIR"] = str(LLM_FIXTURES)
        # A fresh paper index and arXiv cache, as in the tests: the novelty prompts must see the same papers.
        env["SCIENTIST_INDEX_DIR"] = str(Path(work) / "index")
        env["SCIENTIST_ARXIV_CACHE_DIR"] = str(Path(work) / "arxiv")
        result = subprocess.run(
            [sys.executable, "-m", "scientist.cli", "run", FIXTURE_TOPIC], cwd=work, env=env
        )
    print(f"recorded {len(list(LLM_FIXTURES.rglob('*.json')))} responses into {LLM_FIXTURES}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
