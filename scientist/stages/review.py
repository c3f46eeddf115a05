"""Review: an ensemble of reviewers with reflection rounds and an area-chair meta-review of the run's paper.

The sizes come from the settings (`review_ensemble`, `review_reflections`); `review.json` holds the whole
`EnsembleReview` plus `"status": "reviewed"`. Its `form` is the consensus form, so every reader of a single review
(`scientist run`'s summary, `runs show`) reads it unchanged. When no reviewer produces a valid form (small models
often run past their token cap), the paper and experiments are kept and the run completes: `review.json` then says
`"status": "failed"` with the error and how to review the paper again with another model.
"""

from __future__ import annotations

from typing import Any

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.errors import StructuredOutputError


def related_work_for_review(ctx: RunContext) -> tuple[str, ...]:
    """'[id] title' for each related paper of the run's selected idea (what its literature search retrieved)."""
    import json

    path = ctx.folder.selected_idea
    if not path.is_file():
        return ()
    try:
        related = json.loads(path.read_text(encoding="utf-8")).get("related_work") or []
    except (OSError, ValueError, AttributeError):
        return ()
    return tuple(
        f"[{entry.get('id')}] {' '.join(str(entry.get('title') or '').split())}"
        for entry in related
        if isinstance(entry, dict) and entry.get("id")
    )


def review_run_paper(ctx: RunContext, paper_markdown: str, paper_path: str = "paper/paper.md") -> dict[str, Any]:
    from scientist.reviews.paper import from_markdown
    from scientist.reviews.reviewer import ReviewOptions, review_ensemble

    settings = ctx.settings
    limits = ctx.gateway.limits_for("review")
    options = ReviewOptions(
        ensemble=settings.review_ensemble,
        reflections=settings.review_reflections,
        max_paper_chars=limits.review_paper_chars,
        max_tokens=limits.review_max_tokens,
        related_work=related_work_for_review(ctx) if settings.review_related_work else (),
    )
    ctx.progress(
        "review", f"{options.ensemble} reviewer(s), {options.reflections} reflection round(s) each, then meta-review"
    )
    try:
        ensemble = review_ensemble(ctx.gateway, from_markdown(paper_markdown), options)
    except StructuredOutputError as err:
        failed = {
            "status": "failed",
            "error": err.message,
            "hint": f"review it again with a stronger model: scientist review {ctx.run_dir / paper_path} --model M",
            "model": settings.model,
            "options": options.model_dump(),
        }
        ctx.audit.emit(audit_events.StageFailure(stage="review", error=err.message), "pipeline")
        return failed
    review: dict[str, Any] = {"status": "reviewed", **ensemble.model_dump(mode="json")}
    return review
