"""Review: an ensemble of reviewers with reflection rounds and an area-chair meta-review of the run's paper.

The sizes come from the settings (`review_ensemble`, `review_reflections`); the whole `EnsembleReview` is what
`review.json` holds. Its `form` is the consensus form, so every reader of a single review (`scientist run`'s
summary, `runs show`) reads it unchanged.
"""

from __future__ import annotations

from typing import Any

from scientist.context import RunContext


def review_run_paper(ctx: RunContext, paper_markdown: str) -> dict[str, Any]:
    from scientist.reviews.paper import from_markdown
    from scientist.reviews.reviewer import ReviewOptions, review_ensemble

    settings = ctx.settings
    options = ReviewOptions(ensemble=settings.review_ensemble, reflections=settings.review_reflections)
    ctx.progress(
        "review", f"{options.ensemble} reviewer(s), {options.reflections} reflection round(s) each, then meta-review"
    )
    ensemble = review_ensemble(ctx.gateway, from_markdown(paper_markdown), options)
    review: dict[str, Any] = ensemble.model_dump(mode="json")
    return review
