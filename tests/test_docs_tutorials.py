"""The tutorials run as written: every file a page shows is written and every command it shows is run, in order,
from the docs source, and must print what the page shows (tests/docs_support.py). No model, no network: the
review and calibration pages replay recorded answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, chosen_sandbox
from tests.docs_support import run_page

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


def test_review_and_calibrate_page_runs_as_written(recorded_run: Path, tmp_path: Path) -> None:
    """The run's paper reviewed again (the pipeline's review settings, so the recorded answers replay) and the
    reviewer calibrated on 10 papers of the shipped set; the report the page explains is the one the test reads."""
    page = TUTORIALS / "review-and-calibrate.md"
    stores = tmp_path / "fixtures"  # private copies: a test never alters the shared recordings
    for name in ("llm", "llm_calibration"):
        shutil.copytree(FIXTURES / name, stores / name)

    def substitute(arg: str) -> str:
        arg = arg.replace("=tests/fixtures/", f"={stores}/")
        return arg.replace("runs/RUN/", f"runs/{recorded_run.name}/")

    work = recorded_run.parent.parent
    steps = run_page(page, work, substitute=substitute)
    assert [step.command.split()[1] for step in steps if step.command.startswith("scientist")] == [
        "review", "calibrate"
    ]  # fmt: skip
    review = json.loads((work / "review" / "review.json").read_text())
    assert len(review["reviews"]) == 2 and review["meta"] is not None
    report = json.loads((work / "calibration" / "report.json").read_text())
    assert report["n_papers"] == 10 and report["roc_auc"]["value"] == pytest.approx(0.64)
    assert report["leniency"]["gap"]["value"] == pytest.approx(0.192, abs=5e-4)


@pytest.mark.slow
def test_small_study_page_runs_as_written(isolated_env: Path, tmp_path: Path) -> None:
    """Seed 1 of the recorded end-to-end study, one run per cell, replayed from study file to report and
    leaderboard: two whole runs in the sandbox and the judge (one to three minutes on a 2-core machine)."""
    page = TUTORIALS / "small-study.md"
    stores = tmp_path / "fixtures"
    for name in ("llm_study", "corpus"):
        shutil.copytree(FIXTURES / name, stores / name)
    env = {"SCIENTIST_SANDBOX": chosen_sandbox(), "SCIENTIST_INDEX_DIR": str(tmp_path / "index")}
    steps = run_page(page, isolated_env, env=env, substitute=lambda arg: arg.replace("=tests/fixtures/", f"={stores}/"))
    study = next(step.text for step in steps if step.path == "plain-vs-full.toml")
    recorded = (FIXTURES / "study" / "e2e.toml").read_text()
    for line in ('name = "e2e-plain-vs-full"', 'variants = ["plain", "full"]', "[settings]", "max_tokens = 400"):
        assert line in study and line in recorded  # the page's study is a slice of the recorded one
    report = (isolated_env / "report" / "report.md").read_text()
    assert "## plain" in report and "## full" in report and "Pre-registered" in report
    for name in ("quality_vs_k", "score_distribution", "cost_vs_quality"):
        assert (isolated_env / "report" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
