"""Calibration: dataset loading with bad lines, metrics against hand-computed values, resume after a kill, and the
`scientist calibrate reviewer` command on a scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scientist.audit.log import AuditLog
from scientist.llm.gateway import LLMGateway
from scientist.reviews import metrics
from scientist.reviews.calibrate import (
    SHIPPED_DATASET,
    CalibrationError,
    PaperResult,
    build_report,
    load_dataset,
    run_calibration,
)
from scientist.reviews.reviewer import ReviewOptions
from tests.conftest import FIXTURES, run_cli
from tests.reviews_support import (
    Request,
    ReviewStub,
    form_json,
    fresh_stub,
    is_meta,
    meta_json,
    stub_env,
    stub_settings,
)

TINY = FIXTURES / "reviews" / "tiny_calibration.jsonl"
# Scripted reviewers per paper: (overall, decision) of reviewers 0 and 1, and the area chair's decision.
SCRIPT = {
    "A strong illustrative paper": ([(7, "accept"), (5, "reject")], "accept"),  # accepted: mean 6.0
    "A weak illustrative paper": ([(6, "accept"), (6, "accept")], "accept"),  # rejected: mean 6.0
    "Another accepted illustrative paper": ([(4, "reject"), (5, "reject")], "accept"),  # accepted: mean 4.5
    "Another rejected illustrative paper": ([(2, "reject"), (3, "reject")], "reject"),  # rejected: mean 2.5
}


def scripted(request: Request) -> str:
    text = "\n".join(message["content"] for message in request["messages"])
    title = next(title for title in SCRIPT if title in text)
    reviewers, chair = SCRIPT[title]
    if is_meta(request):
        return meta_json(chair)
    overall, decision = reviewers[request["seed"]]  # base seed 0: the seed is the reviewer index
    return form_json(overall, decision)


@pytest.fixture
def stub(review_server: ReviewStub) -> ReviewStub:
    server = fresh_stub(review_server, scripted)
    return server


def test_dataset_bad_lines_are_reported_by_number_and_skipped() -> None:
    papers, errors = load_dataset(TINY)
    assert [paper.id for paper in papers] == ["t1", "t2", "t3", "t5"]
    assert [error.line for error in errors] == [3, 5, 7]
    assert (
        "json" in errors[0].error.lower()
        and "accepted" in errors[1].error
        and "human_recommendations" in errors[2].error
    )
    assert [section.title for section in papers[3].paper().sections] == ["Abstract", "Method", "Results"]
    assert [section.title for section in papers[0].paper().sections] == ["Abstract"]  # no text: abstract only


def test_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="no calibration dataset"):
        load_dataset(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("{}\nnot json\n", encoding="utf-8")
    with pytest.raises(CalibrationError, match="no valid papers \\(2 bad lines\\)"):
        load_dataset(tmp_path / "bad.jsonl")
    (tmp_path / "dup.jsonl").write_text(TINY.read_text().splitlines()[0] + "\n" + TINY.read_text().splitlines()[0])
    assert load_dataset(tmp_path / "dup.jsonl")[1][0].error == "duplicate id 't1'"


def test_shipped_set_is_balanced_and_well_formed() -> None:
    papers, errors = load_dataset(SHIPPED_DATASET)
    assert not errors and len(papers) == 20
    assert sum(paper.accepted for paper in papers) == 10
    assert [paper.accepted for paper in papers[:10]] == [True, False] * 5  # any --limit prefix stays balanced
    assert all(paper.human_recommendations and paper.abstract for paper in papers)


def test_metrics_match_hand_computed_values(stub: ReviewStub, tmp_path: Path) -> None:
    papers, _ = load_dataset(TINY)
    options = ReviewOptions(ensemble=2, fewshot=0)
    gateway = LLMGateway(stub_settings(stub, tmp_path), AuditLog(tmp_path / "cal"))
    results = run_calibration(gateway, TINY, papers, options, tmp_path / "cal")
    assert [result.mean_overall for result in results] == [6.0, 6.0, 4.5, 2.5]
    report = build_report(results, dataset=str(TINY), model="m", options=options, resamples=200)
    by_decision, by_overall = report.rules
    assert by_decision.rule == "decision field" and by_overall.rule == "overall >= 6"
    # decision field: TP t1, FP t2, TP t3 (the area chair overrules two rejects), TN t5
    assert by_decision.accuracy.value == 0.75 and by_decision.balanced_accuracy.value == 0.75
    assert by_decision.f1.value == 0.8 and by_decision.fpr.value == 0.5 and by_decision.fnr.value == 0.0
    # overall >= 6: TP t1 (6.0), FP t2 (6.0), FN t3 (4.5), TN t5 (2.5)
    assert [by_overall.accuracy.value, by_overall.f1.value, by_overall.fpr.value, by_overall.fnr.value] == [0.5] * 4
    # AUC on the continuous mean Overall: pairs (6 vs 6) = 1/2, (6 vs 2.5) = 1, (4.5 vs 6) = 0, (4.5 vs 2.5) = 1
    assert report.roc_auc.value == pytest.approx(2.5 / 4)
    assert report.spearman_human is not None and report.spearman_human.value == pytest.approx(3 / 22.5**0.5)
    assert report.krippendorff_alpha is not None and report.krippendorff_alpha.value == pytest.approx(228 / 312)
    # one human per paper, recommendation >= 6: expected counts tp 5/3, fn 1/3, fp 1/2, tn 3/2
    human = report.human_baseline
    assert human is not None and human.n == 4
    assert human.accuracy.value == pytest.approx(19 / 24) and human.balanced_accuracy.value == pytest.approx(19 / 24)
    assert human.f1.value == pytest.approx(0.8) and human.fpr.value == 0.25 and human.fnr.value == pytest.approx(1 / 6)
    for estimate in (by_decision.accuracy, report.roc_auc, human.accuracy):
        assert estimate.ci_low is not None and estimate.ci_high is not None
        assert estimate.value is not None and estimate.ci_low <= estimate.value <= estimate.ci_high
    assert (report.n_papers, report.n_accepted, report.n_with_humans) == (4, 2, 4)
    # leniency: reviewer 6, 6, 4.5, 2.5 against human means 20/3, 9/2, 19/3, 10/3 (paired gaps -2/3, 3/2, -11/6, -5/6)
    lenient = report.leniency
    assert lenient is not None and lenient.n == 4
    assert lenient.reviewer_mean.value == pytest.approx(4.75)
    assert lenient.human_mean.value == pytest.approx((20 / 3 + 9 / 2 + 19 / 3 + 10 / 3) / 4)
    assert lenient.gap.value == pytest.approx(-11 / 24)  # harsher than the humans
    assert lenient.gap.ci_low is not None and lenient.gap.ci_high is not None
    assert lenient.gap.ci_low <= lenient.gap.value <= lenient.gap.ci_high
    # at >= 6 the reviewer accepts t1, t2; the humans' means accept t1, t3; t1 and t3 were accepted
    assert (lenient.reviewer_accept_rate.value, lenient.human_accept_rate.value, lenient.true_accept_rate) == (
        0.5, 0.5, 0.5
    )  # fmt: skip
    assert [(paper.id, round(paper.gap, 3)) for paper in report.disagreements] == [
        ("t3", -1.833), ("t2", 1.5), ("t5", -0.833), ("t1", -0.667)
    ]  # fmt: skip


def test_leniency_shows_a_reviewer_kinder_than_the_humans_and_is_absent_without_humans() -> None:
    kind = [
        PaperResult(id=f"p{i}", accepted=i % 2 == 0, human_recommendations=[3, 4], overall=[8, 8],
                    decisions=["accept", "accept"], decision="accept", decision_source="majority", mean_overall=8.0)
        for i in range(6)
    ]  # fmt: skip
    report = build_report(kind, dataset="d", model="m", options=ReviewOptions(ensemble=2, fewshot=0), resamples=50)
    assert report.leniency is not None and report.leniency.gap.value == pytest.approx(4.5)
    assert report.leniency.reviewer_accept_rate.value == 1.0 and report.leniency.human_accept_rate.value == 0.0
    assert len(report.disagreements) == 5  # the five largest shown, not all six
    silent = [paper.model_copy(update={"human_recommendations": []}) for paper in kind]
    report = build_report(silent, dataset="d", model="m", options=ReviewOptions(ensemble=2, fewshot=0), resamples=50)
    assert report.leniency is None and report.disagreements == []


def test_metric_functions() -> None:
    assert metrics.roc_auc([True, True, False], [0.9, 0.9, 0.9]) == 0.5
    assert metrics.roc_auc([True, False], [1, 0]) == 1.0 and metrics.roc_auc([True, True], [1, 2]) is None
    assert metrics.krippendorff_alpha_interval([[1, 2], [3, 3]]) == pytest.approx(8 / 11)
    assert metrics.krippendorff_alpha_interval([[2, 2, None], [5, 5, 5]]) == 1.0
    assert metrics.krippendorff_alpha_interval([[1], [4, None]]) is None  # nothing pairable
    assert (
        metrics.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1) and metrics.spearman([1, 1, 1], [1, 2, 3]) is None
    )
    assert metrics.rates(0, 0, 0, 4)["balanced_accuracy"] is None  # one class only: undefined, not 0.5
    low, high = metrics.bootstrap(lambda idx: float(np.mean(np.arange(10)[idx])), 10, resamples=300, seed=1)
    assert low is not None and high is not None and low < 4.5 < high
    assert metrics.bootstrap(lambda idx: float(np.mean(idx)), 10, resamples=300, seed=1) == (low, high)


def test_a_killed_calibration_resumes_where_it_stopped(stub: ReviewStub, tmp_path: Path) -> None:
    papers, _ = load_dataset(TINY)
    options = ReviewOptions(ensemble=2, fewshot=0)
    out = tmp_path / "cal"
    gateway = LLMGateway(stub_settings(stub, tmp_path), AuditLog(out))

    def kill_at_third(index: int, total: int, paper: object) -> None:
        if index == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_calibration(gateway, TINY, papers, options, out, progress=kill_at_third)
    with (out / "results.jsonl").open("a") as handle:
        handle.write('{"id": "t3", "accepted": tr')  # a write torn by the kill
    calls_before = len(stub.requests)
    results = run_calibration(gateway, TINY, papers, options, out)
    assert [result.id for result in results] == ["t1", "t2", "t3", "t5"]
    assert len(stub.requests) - calls_before == 2 * 3  # only t3 and t5: two reviews and a meta-review each
    assert len((out / "results.jsonl").read_text().splitlines()) == 4
    with pytest.raises(CalibrationError, match="changed: options"):
        run_calibration(gateway, TINY, papers, ReviewOptions(ensemble=3), out)
    assert len(run_calibration(gateway, TINY, papers[:1], options, out, restart=True)) == 1


def test_calibrate_command_end_to_end(stub: ReviewStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scientist.commands.review import app

    for name, value in stub_env(stub, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps to the terminal width
    out = tmp_path / "cal"
    args = ["calibrate", "reviewer", "--dataset", str(TINY), "--ensemble", "2", "--fewshot", "0", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--json", "--resamples", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_papers"] == 4 and report["rules"][0]["accuracy"]["value"] == 0.75
    assert [line["line"] for line in report["skipped_lines"]] == [3, 5, 7]
    assert (out / "report.json").exists() and AuditLog(out).find(kind="review_ensemble")
    calls = len(stub.requests)
    table = CliRunner().invoke(app, [*args, "--limit", "2", "--resamples", "50"])
    assert table.exit_code == 0 and len(stub.requests) == calls  # everything was already reviewed
    assert "ROC AUC of mean Overall (continuous)" in table.stdout and "decision field" in table.stdout
    # t1 (6 against humans' 6.67) and t2 (6 against 4.5): on average half a point kinder than the humans
    assert "Leniency on 2 papers with human scores" in table.stdout and "gap 0.417" in table.stdout
    assert "largest disagreements with humans" in table.stdout and "+1.50" in table.stdout
    # the Overall rule's cut-off comes from config, set before calibrating; changing it re-scores stored reviews
    monkeypatch.setenv("SCIENTIST_REVIEW_ACCEPT_THRESHOLD", "4")
    rescored = json.loads(CliRunner().invoke(app, [*args, "--json", "--resamples", "50"]).stdout)
    overall_rule = rescored["rules"][1]
    assert overall_rule["rule"] == "overall >= 4" and len(stub.requests) == calls
    assert overall_rule["accuracy"]["value"] == 0.75  # means 6, 6, 4.5, 2.5 for accepted t1, t3: only t2 is wrong
    refused = run_cli(*args, env={"SCIENTIST_REVIEW_ACCEPT_THRESHOLD": "11"})  # the real CLI, as a user sees it
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "review_accept_threshold" in refused.stderr and "less than or equal to 10" in refused.stderr
