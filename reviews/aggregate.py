"""Ensemble maths: per-field centre and spread, majority decisions, and the consensus form."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from scientist.reviews.form import SCORE_FIELDS, Decision, MetaReviewForm, ReviewForm, ScoreStats


def score_stats(values: Sequence[int]) -> ScoreStats:
    """Mean, median, sample standard deviation and range of one field's scores."""
    if not values:
        raise ValueError("no scores to aggregate")
    return ScoreStats(
        n=len(values),
        mean=statistics.fmean(values),
        median=float(statistics.median(values)),
        std=statistics.stdev(values) if len(values) > 1 else 0.0,
        min=min(values),
        max=max(values),
        values=list(values),
    )


def aggregate_scores(forms: Sequence[ReviewForm]) -> dict[str, ScoreStats]:
    return {name: score_stats([int(getattr(form, name)) for form in forms]) for name in SCORE_FIELDS}


def majority_decision(forms: Sequence[ReviewForm]) -> Decision:
    """Accept only with a strict majority of accept votes (a tie rejects: the burden of proof is on the paper)."""
    accepts = sum(form.decision == "accept" for form in forms)
    return "accept" if accepts * 2 > len(forms) else "reject"


def representative(forms: Sequence[ReviewForm]) -> ReviewForm:
    """The first review whose overall score is the ensemble's (low) median: its text speaks for the middle."""
    middle = statistics.median_low([form.overall for form in forms])
    return next(form for form in forms if form.overall == middle)


def _fit(text: str, model: type[ReviewForm], field: str) -> str:
    """`text` cut at a word to the form field's max_length (a meta-review summary may be longer than a review's);
    the whole meta-review is kept in the ensemble's `meta`."""
    limit = next((m.max_length for m in model.model_fields[field].metadata if hasattr(m, "max_length")), None)
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip() + "\u2026"


def consensus_form(forms: Sequence[ReviewForm], meta: MetaReviewForm | None = None) -> ReviewForm:
    """One form for the whole ensemble: median-low scores (always a valid scale value), the meta-review's text and
    decision when there is one (else the representative review's text and the majority decision)."""
    if len(forms) == 1 and meta is None:
        return forms[0]
    middle = representative(forms)
    values: dict[str, Any] = {
        name: statistics.median_low([getattr(form, name) for form in forms]) for name in SCORE_FIELDS
    }
    values.update(
        summary=_fit(meta.summary, ReviewForm, "summary") if meta else middle.summary,
        strengths=meta.strengths if meta else middle.strengths,
        weaknesses=meta.weaknesses if meta else middle.weaknesses,
        questions=middle.questions,
        limitations=middle.limitations,
        ethical_concerns=any(form.ethical_concerns for form in forms),
        decision=meta.decision if meta else majority_decision(forms),
    )
    return ReviewForm.model_validate(values)


def scores_table(scores: dict[str, ScoreStats]) -> str:
    """Plain-text table for prompts and logs: one line per field."""
    return "\n".join(
        f"- {name}: mean {stats.mean:.2f}, median {stats.median:g}, range {stats.min}-{stats.max}"
        for name, stats in scores.items()
    )
