"""`scientist calibrate reviewer` on the embedded model over 10 papers of the shipped PeerRead set, replayed.

The model's answers were recorded once, live (`make record-calibration-fixtures`); the replay runs the real command
and must print the recorded report metric for metric. The 135M model is near chance, and that is the honest number:
what this checks is the harness, that every metric of the issue is computed and reported on real model output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, run_cli

CALIBRATION_FIXTURES = FIXTURES / "llm_calibration"
REPORT_FILE = FIXTURES / "reviews" / "calibration_report.json"
MODEL = "local/smollm2-135m"
PAPERS = 10


def calibrate(work: Path, llm_store: Path, mode: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The recorded command: defaults (ensemble 2, no reflection, 2 few-shot examples) on the first 10 papers."""
    env = {"SCIENTIST_LLM_MODE": mode, "SCIENTIST_LLM_CACHE_DIR": str(llm_store), "XDG_DATA_HOME": str(work / "data")}
    args = ["calibrate", "reviewer", "--model", MODEL, "--limit", str(PAPERS), "--out", str(work / "cal"), "--json"]
    return run_cli(*args, *extra, env=env, timeout=3600)


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the dataset's absolute path (it names the checkout)."""
    return {**report, "dataset": Path(report["dataset"]).name}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    if not any(CALIBRATION_FIXTURES.rglob("*.json")) or not REPORT_FILE.is_file():
        pytest.skip(f"no recorded calibration in {CALIBRATION_FIXTURES}: run `make record-calibration-fixtures`")
    work = tmp_path_factory.mktemp("calibration")
    store = work / "llm-replay"
    shutil.copytree(CALIBRATION_FIXTURES, store)
    ran = calibrate(work, store, "replay")
    assert ran.returncode == 0, ran.stderr[-3000:]
    return work, json.loads(ran.stdout)


def test_replayed_calibration_reports_every_metric_as_recorded(replayed: tuple[Path, dict[str, Any]]) -> None:
    _, report = replayed
    assert comparable(report) == json.loads(REPORT_FILE.read_text(encoding="utf-8"))
    assert report["model"] == MODEL and report["n_papers"] == PAPERS
    assert (report["n_accepted"], report["n_rejected"]) == (5, 5)  # the shipped set alternates, any prefix balances
    assert report["dataset"].endswith("peerread_iclr2017_train.jsonl")
    decision, overall = report["rules"]
    assert decision["rule"] == "decision field" and overall["rule"] == f"overall >= {report['threshold']:g}"
    estimates = [rule[name] for rule in (decision, overall, report["human_baseline"])
                 for name in ("accuracy", "balanced_accuracy", "f1", "fpr", "fnr")]  # fmt: skip
    # Spearman and alpha are None only when undefined (e.g. every mean Overall equal): the key is still reported
    estimates += [report["roc_auc"], *[report[key] for key in ("spearman_human", "krippendorff_alpha") if report[key]]]
    lenient = report["leniency"]  # the reviewer's scores against the humans' (issue: reviewer leniency)
    estimates += [lenient[key] for key in ("reviewer_mean", "human_mean", "gap", "reviewer_accept_rate")]
    for estimate in estimates:  # every metric of the issue, with its bootstrap CI where one is defined
        assert set(estimate) >= {"value", "ci_low", "ci_high"}
        if estimate["value"] is not None and estimate["ci_low"] is not None:
            assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"]
    assert report["roc_auc"]["value"] is not None and 0 <= report["roc_auc"]["value"] <= 1
    assert report["n_with_humans"] == PAPERS and report["ensemble"] == 2
    assert lenient["n"] == PAPERS and len(report["disagreements"]) == 5
    gaps = [abs(paper["gap"]) for paper in report["disagreements"]]
    assert gaps == sorted(gaps, reverse=True)


def test_a_finished_calibration_reprints_its_table_without_calling_the_model(
    replayed: tuple[Path, dict[str, Any]],
) -> None:
    """Everything is stored in --out: the same command again prints the table from results.jsonl, even with no
    model answers at all (an empty replay store would fail any call)."""
    work, _ = replayed
    empty = work / "empty-store"
    empty.mkdir()
    again = calibrate(work, empty, "replay")
    assert again.returncode == 0, again.stderr[-2000:]
    assert comparable(json.loads(again.stdout)) == json.loads(REPORT_FILE.read_text(encoding="utf-8"))
    table = run_cli("calibrate", "reviewer", "--model", MODEL, "--limit", str(PAPERS), "--out", str(work / "cal"),
                    env={"SCIENTIST_LLM_MODE": "replay", "SCIENTIST_LLM_CACHE_DIR": str(empty), "COLUMNS": "200"})
    assert table.returncode == 0 and "ROC AUC of mean Overall (continuous)" in table.stdout
