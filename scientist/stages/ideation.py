"""Ideate, revise, select: from a topic to one chosen research idea (novelty is judged in `stages.novelty`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from scientist.context import RunContext
from scientist.errors import StructuredOutputError

Rating = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


class Idea(BaseModel):
    """A research idea as the model proposes it; string caps keep small models from rambling past max_tokens."""

    title: str = Field(min_length=3, max_length=120)
    hypothesis: str = Field(min_length=10, max_length=500)
    experiment_plan: str = Field(min_length=10, max_length=600)
    risks: str = Field(min_length=3, max_length=400)
    interestingness: Rating = Field(description="Self-rated, 1..10")
    feasibility: Rating = Field(description="Self-rated, 1..10")


def _variables(ctx: RunContext, topic: str, related: list[dict[str, Any]]) -> dict[str, Any]:
    template = ctx.template
    return {
        "topic": topic,
        "task_description": template.task_description,
        "params": template.params,
        "seed_ideas": template.seed_ideas[:2],
        "related": [{"id": paper["id"], "title": paper["title"]} for paper in related],
        "revise": None,
    }


def generate_ideas(ctx: RunContext, topic: str) -> list[dict[str, Any]]:
    """Sample `num_ideas` ideas independently (one call each, seeds differ); failures are recorded, not fatal.

    The prompt lists the indexed papers nearest to the topic, so the model can steer away from published work.
    """
    from scientist.stages.novelty import related_papers

    ideas: list[dict[str, Any]] = []
    ctx.progress("ideate", "looking up related papers in the local index")
    related = related_papers(ctx, topic)
    ctx.audit.append("ideation_context", "pipeline", {"related": related})
    for index in range(ctx.settings.num_ideas):
        ctx.progress("ideate", f"idea {index + 1}/{ctx.settings.num_ideas}")
        try:
            idea = ctx.gateway.structured(
                "ideate", _variables(ctx, topic, related), Idea, stage="ideate", sample_index=index
            )
        except StructuredOutputError as err:
            ctx.audit.append("stage_failure", "pipeline", {"stage": "ideate", "sample": index, "error": str(err)})
            continue
        ideas.append({"index": index, **idea.model_dump()})
    if not ideas:
        raise StructuredOutputError(
            f"none of the {ctx.settings.num_ideas} idea samples was valid",
            hint="raise --num-ideas or use a stronger --model; resume continues from here",
        )
    return ideas


def revise_idea(ctx: RunContext, topic: str, idea: dict[str, Any], feedback: str, index: int) -> dict[str, Any] | None:
    """A new idea in place of one judged not novel: the same prompt plus the rejection and its closest papers.

    `index` is a fresh sample index (its seed differs from every earlier sample); None when the model fails.
    """
    from scientist.stages.novelty import related_papers

    related = related_papers(ctx, f"{idea['title']} {idea['hypothesis']}")
    variables = {**_variables(ctx, topic, related), "revise": {"title": idea["title"], "feedback": feedback}}
    try:
        revised = ctx.gateway.structured("ideate", variables, Idea, stage="ideate.revise", sample_index=index)
    except StructuredOutputError as err:
        ctx.audit.append("stage_failure", "pipeline", {"stage": "ideate.revise", "sample": index, "error": str(err)})
        return None
    ctx.audit.append("idea_revised", "pipeline", {"from": idea["index"], "to": index, "title": revised.title})
    return {"index": index, "revised_from": idea["index"], **revised.model_dump()}


def select_idea(ideas: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Pick the idea with the highest self-rated interestingness + feasibility; ties go to the earliest sample.

    `ideas` are the candidates that passed the novelty check (the pipeline passes those, not every idea).
    """
    rule = "max(interestingness + feasibility), ties to the lowest sample index"
    best = max(ideas, key=lambda idea: (idea["interestingness"] + idea["feasibility"], -idea["index"]))
    return best, rule
