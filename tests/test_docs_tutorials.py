"""The tutorials run as written: every file a page shows is written and every command it shows is run, in order,
from the docs source, and must print what the page shows (tests/docs_support.py). No model, no network: the
review and calibration pages replay recorded answers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO, chosen_sandbox
from tests.docs_support import page_steps, run_page

TUTORIALS = REPO / "docs" / "tutorials"


def test_writing_a_template_page_runs_as_written(isolated_env: Path) -> None:
    """The tiny template is written file by file, validated, run by hand and in the sandbox; the write attempt on
    the protected evaluator and the proposed edit to it are both reported by the monitors."""
    page = TUTORIALS / "writing-a-template.md"
    steps = run_page(page, isolated_env, env={"SCIENTIST_SANDBOX": chosen_sandbox()})
    written = {step.path for step in steps if step.path}
    assert {"tiny_threshold/template.toml", "tiny_threshold/evaluate.py", "cheat.py"} <= written
    assert sum(1 for step in steps if step.command.startswith("scientist sandbox run")) == 2
    # the sandbox refused the write: the evaluator on disk is the page's, and it still measures the same number
    evaluator = next(step.text for step in steps if step.path == "tiny_threshold/evaluate.py")
    assert (isolated_env / "tiny_threshold" / "evaluate.py").read_text() == evaluator
    assert json.loads((isolated_env / "eval" / "final_info.json").read_text())["metrics"]["test_accuracy"] > 0.8
