"""Ideate, (record) novelty, select: from a topic to one chosen research idea."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from scientist.context import RunContext
from scientist.errors import StructuredOutputError

Rating = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
NOVELTY_UNCHECKED_REASON = "novelty search is not implemented yet: no score is made up"


class Idea(BaseModel):
    """A research idea as the model proposes it; string caps keep small models from rambling past max_tokens."""

    title: str = Field(min_length=3, max_length=120)
    hypothesis: str = Field(min_length=10, max_length=500)
    experiment_plan: str = Field(min_length=10, max_length=600)
    risks: str = Field(min_length=3, max_length=400)
    interestingness: Rating = Field(description="Self-rated, 1..10")
    feasibility: Rating = Field(description="Self-rated, 1..10")


def generate_ideas(ctx: RunContext, topic: str) -> list[dict[str, Any]]:
    """Sample `num_ideas` ideas independently (one call each, seeds differ); failures are recorded, not fatal."""
    ideas: list[dict[str, Any]] = []
    template = ctx.template
    for index in range(ctx.settings.num_ideas):
        ctx.progress("ideate", f"idea {index + 1}/{ctx.settings.num_ideas}")
        try:
            idea = ctx.gateway.structured(
                "ideate",
                {
                    "topic": topic,
                    "task_description": template.task_description,
                    "params": template.params,
                    "seed_ideas": template.seed_ideas[:2],
                },
                Idea,
                stage="ideate",
                sample_index=index,
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


def unchecked_novelty(ideas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Until the literature issue lands, say plainly that novelty was not judged."""
    return [{"index": idea["index"], "novelty": "unchecked", "reason": NOVELTY_UNCHECKED_REASON} for idea in ideas]


def select_idea(ideas: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Pick the idea with the highest self-rated interestingness + feasibility; ties go to the earliest sample."""
    rule = "max(interestingness + feasibility), ties to the lowest sample index"
    best = max(ideas, key=lambda idea: (idea["interestingness"] + idea["feasibility"], -idea["index"]))
    return best, rule
