"""A run's review.json read through its model (`scientist.reviews.form.RunReview`) by the CLI's run summary: the
shapes the review stage writes (reviewed, failed) and older ones read; a damaged file is a `CorruptRunError` naming
the file and what to do (the CLI prints it as one message and exits 2), never a KeyError traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scientist import cli
from scientist.errors import CorruptRunError
from scientist.reviews.form import RunReview
from scientist.runs import RunFolder, RunInfo

FORM = {"summary": "s", "strengths": ["a"], "weaknesses": ["b"], "questions": [], "limitations": "l",
        "ethical_concerns": False, "originality": 2, "quality": 2, "clarity": 3, "significance": 2, "soundness": 2,
        "presentation": 3, "contribution": 2, "overall": 4, "confidence": 3, "decision": "reject"}  # fmt: skip
REVIEWED = {"status": "reviewed", "form_version": "neurips-2024.2", "model": "m", "prompt_sha256": "0" * 64,
            "form": FORM, "decision_source": "single", "accept_votes": 0, "scores": {}, "reviews": []}  # fmt: skip
FAILED = {"status": "failed", "error": "no reviewer returned a valid form", "hint": "review it again: scientist review",
          "model": "m", "options": {"ensemble": 1}}  # fmt: skip


def _finished(tmp_path: Path, review: object) -> tuple[RunInfo, Path]:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    text = review if isinstance(review, str) else json.dumps(review)
    RunFolder(run_dir).review.write_text(text, encoding="utf-8")
    info = RunInfo(id="r1", topic="t", template="x", model="m", created="", updated="", status="completed")
    return info, run_dir


@pytest.mark.parametrize(
    ("stored", "status", "overall"),
    [
        (REVIEWED, "reviewed", 4),
        (FAILED, "failed", None),
        ({key: value for key, value in REVIEWED.items() if key != "status"}, None, 4),  # before the status was kept
    ],
)
def test_every_shape_the_review_stage_wrote_reads(
    tmp_path: Path, stored: dict[str, object], status: str | None, overall: int | None
) -> None:
    run_dir = _finished(tmp_path, stored)[1]
    review = RunReview.read(RunFolder(run_dir).review)
    assert review.status == status and (review.form.overall if review.form else None) == overall
    assert review.model_dump(exclude_unset=True) == stored  # the ensemble's other keys are kept as written


def test_an_older_form_version_is_not_damage(tmp_path: Path) -> None:
    """Only the answers the readers show are checked: a form under neurips-2024 (unbounded list items) reads."""
    older = {**REVIEWED, "form_version": "neurips-2024", "form": {**FORM, "strengths": ["x" * 900]}}
    form = RunReview.read(_finished(tmp_path, older)[1] / RunFolder.REVIEW).form
    assert form is not None and form.model_dump() == older["form"]


def test_the_run_summary_prints_the_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli._finish(*_finished(tmp_path / "ok", REVIEWED))
    cli._finish(*_finished(tmp_path / "failed", FAILED))
    out = " ".join(capsys.readouterr().out.split())
    assert "review: overall 4/10, decision reject" in out and "review failed: no reviewer returned a valid form" in out


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("{not json", "cannot be read: JSONDecodeError"),
        ("[]", "a JSON object was expected, not list"),
        ({**REVIEWED, "form": {**FORM, "overall": 11}}, "form.overall"),
        ({**REVIEWED, "form": {"decision": "reject"}}, "form.overall: Field required"),
        ({**REVIEWED, "form": None}, "a reviewed paper's review.json holds its form"),
        ({**FAILED, "status": "maybe"}, "status"),
    ],
)
def test_a_damaged_review_is_a_clear_error_in_the_run_summary(tmp_path: Path, stored: object, problem: str) -> None:
    info, run_dir = _finished(tmp_path, stored)
    with pytest.raises(CorruptRunError) as caught:
        cli._finish(info, run_dir)  # was a KeyError or JSONDecodeError traceback
    error = caught.value
    assert str(RunFolder(run_dir).review) in error.message and problem in error.message
    assert error.hint and "scientist review" in error.hint


def test_the_review_a_real_run_wrote_reads_through_the_model(real_run: Path) -> None:
    path = RunFolder(real_run).review
    raw = json.loads(path.read_text())
    review = RunReview.read(path)
    assert review.status == raw["status"] and review.model_dump(exclude_unset=True) == raw
    if raw["status"] == "reviewed":
        assert review.form is not None and (review.form.overall, review.form.decision) == (
            raw["form"]["overall"],
            raw["form"]["decision"],
        )
