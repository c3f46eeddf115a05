"""selector = reviewer: candidates ranked by the review form, filled by the review role's model.

Why: a study asks whether "best-of-n by a reviewer's score" buys what a tournament or the model's self-rating buys,
so the reviewer selector scores every eligible candidate (ideas or paper drafts) with `selection_reviews`
independent forms of the run's own reviewer (`reviews.reviewer.review_paper`: prompt `review`, the review role's
model, no reflection, few-shot examples as the reviewer's defaults) and ranks them by the mean Overall. An idea is
shown to the reviewer as a short proposal (title, hypothesis as abstract, plan as method, risks as limitations).
Review j of eligible candidate i asks at sample index REVIEW_BASE + i * selection_reviews + j, apart from the final
review's 0..ensemble-1 (so the winner's own review is never a repeat of a selection review). A form that stays
invalid is a counted failure; a candidate without any valid form scores 0, below the form's minimum. Every form's
scores go into `candidates/<stage>.json` under "reviews" and into a `review_selection` audit record; the calls are
ordinary gateway calls, so the run's budget and compute accounting charge them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from scientist.audit import events as audit_events
from scientist.errors import StructuredOutputError

if TYPE_CHECKING:
    from scientist.context import RunContext

REVIEW_BASE = 50
NO_VALID_FORM = 0.0  # below the form's minimum (1): a candidate no reviewer could score wins only if all failed


class ReviewRanker:
    """A `sampling.PoolRanker`: `selection_reviews` forms per candidate, mean Overall; `record()` keeps them all."""

    record_key = "reviews"

    def __init__(self, ctx: RunContext, stage: str, document: Callable[[Any], str]) -> None:
        self.ctx, self.stage, self.document = ctx, stage, document
        self.reviews: dict[str, dict[str, Any]] | None = None

    def __call__(self, values: Mapping[int, Any]) -> dict[int, float]:
        from scientist.reviews.reviewer import ReviewOptions, review_paper

        gateway = self.ctx.gateway
        limits = gateway.limits_for("review")
        options = ReviewOptions(
            reflections=0, meta_review=False, max_paper_chars=limits.review_paper_chars,
            max_tokens=limits.review_max_tokens,
        )  # fmt: skip
        k = self.ctx.settings.selection_reviews
        self.ctx.progress(self.stage, f"reviewer selection: {k} review(s) of each of {len(values)} candidates")
        scores: dict[int, float] = {}
        kept: dict[str, dict[str, Any]] = {}
        for index, value in sorted(values.items()):
            text = self.document(value)
            overall: list[int] = []
            failures: list[str] = []
            for j in range(k):
                sample = REVIEW_BASE + index * k + j
                try:
                    overall.append(review_paper(gateway, text, sample_index=sample, options=options).form.overall)
                except StructuredOutputError as err:
                    failures.append(f"review {j} (sample {sample}): {err.message}"[:500])
            scores[index] = sum(overall) / len(overall) if overall else NO_VALID_FORM
            kept[str(index)] = {"overall": overall, "failures": failures, "score": scores[index]}
        self.reviews = kept
        self.ctx.audit.emit(
            audit_events.ReviewSelection(
                stage=self.stage,
                reviews_per_candidate=k,
                scores={i: r["score"] for i, r in kept.items()},
                failed=sum(len(r["failures"]) for r in kept.values()),
            ),
            "pipeline",
        )  # fmt: skip
        return scores

    def record(self) -> dict[str, Any] | None:
        """Every candidate's Overall scores, failures and mean, for the candidates file (None before any ran)."""
        return None if self.reviews is None else json.loads(json.dumps(self.reviews))


def idea_document(idea: Any) -> str:
    """An idea as a proposal the review form can be filled for; no self-ratings (they would anchor the reviewer)."""
    return (
        f"# {idea['title']}\n\n## Abstract\n\n{idea['hypothesis']}\n\n## Method\n\n{idea['experiment_plan']}\n\n"
        f"## Limitations\n\n{idea['risks']}\n"
    )


def idea_ranker(ctx: RunContext, stage: str) -> ReviewRanker:
    return ReviewRanker(ctx, stage, idea_document)


def draft_ranker(ctx: RunContext, stage: str) -> ReviewRanker:
    """A draft is reviewed on its Markdown, as the run's final paper is."""

    def document(draft: Any) -> str:
        return (ctx.run_dir / str(draft["dir"]) / str(draft["md"])).read_text(encoding="utf-8")

    return ReviewRanker(ctx, stage, document)
