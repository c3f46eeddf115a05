"""selector = tournament in the pipeline: the model compares a stage's candidates pairwise, Bradley-Terry rates them.

Why a tournament: a self-rating or one reviewer score per candidate is an absolute judgement, which small and large
models alike make poorly; a comparison of two candidates is an easier question (as in Google's AI co-scientist).
Each comparison is an ordinary gateway call (prompt `tournament_compare`, stage `<stage>.tournament`), so it has
its `llm_call` audit record, budget charge and the stage role's model. The whole tournament — every comparison with
the order shown, outcome, reason or error, the ratings and the position counts — goes into
`candidates/<stage>.json` under "tournament" and into a `tournament` audit record. A comparison whose answer stays
invalid (`StructuredOutputError`) is a counted failure, left out of the fit, never the end of the selection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from scientist.audit import events as audit_events
from scientist.errors import StructuredOutputError
from scientist.measure.tournament import Judgement, TournamentResult, run_tournament

if TYPE_CHECKING:
    from scientist.context import RunContext

PROMPT = "tournament_compare"
_OUTCOMES: dict[str, Literal["first", "second", "tie"]] = {"A": "first", "B": "second", "tie": "tie"}


class Preference(BaseModel):
    """The model's answer to one comparison; the cap keeps a small model's reasoning within max_tokens."""

    reasoning: str = Field(max_length=600)
    better: Literal["A", "B", "tie"]


class TournamentRanker:
    """A `sampling.PoolRanker`: runs one tournament over the pool it is given; `result` keeps the last one."""

    record_key = "tournament"  # where bestofn.select puts `record()` in the candidates file

    def __init__(
        self,
        ctx: RunContext,
        stage: str,
        describe: Callable[[Any], str],
        *,
        task: str,
        kind: str,
        criteria: str,
    ) -> None:
        self.ctx, self.stage, self.describe = ctx, stage, describe
        self.task, self.kind, self.criteria = task, kind, criteria
        self.result: TournamentResult | None = None

    def __call__(self, values: Mapping[int, Any]) -> dict[int, float]:
        shown = {index: self.describe(value) for index, value in values.items()}
        settings = self.ctx.settings

        def compare(first: int, second: int, number: int) -> Judgement:
            variables = {
                "task": self.task, "kind": self.kind, "criteria": self.criteria, "a": shown[first], "b": shown[second],
            }  # fmt: skip
            answer = self.ctx.gateway.structured(
                PROMPT, variables, Preference, stage=f"{self.stage}.tournament", sample_index=number
            )
            return Judgement(outcome=_OUTCOMES[answer.better], reason=answer.reasoning)

        self.ctx.progress(self.stage, f"tournament over {len(values)} candidates")
        result = run_tournament(
            list(values),
            compare,
            all_pairs_max=settings.tournament_all_pairs_max,
            rounds=settings.tournament_rounds,
            failures=(StructuredOutputError,),
        )
        self.result = result
        self.ctx.audit.emit(audit_events.Tournament(stage=self.stage, **summary(result)), "pipeline")
        if result.failed:
            self.ctx.progress(self.stage, f"{result.failed} of {len(result.comparisons)} comparisons failed")
        return dict(result.ratings)

    def record(self) -> dict[str, Any] | None:
        """The last tournament as JSON for the candidates file (None before any ran)."""
        return None if self.result is None else json.loads(self.result.model_dump_json())


def summary(result: TournamentResult) -> dict[str, Any]:
    """The audit record's payload: the schedule, counts and ratings (the comparisons are in the candidates file)."""
    return {
        "schedule": result.schedule,
        "rounds": result.rounds,
        "comparisons": len(result.comparisons),
        "failed": result.failed,
        "first_position_wins": result.first_position_wins,
        "second_position_wins": result.second_position_wins,
        "ties": result.ties,
        "ratings": {str(index): rating for index, rating in result.ratings.items()},
    }


def describe_idea(idea: Any) -> str:
    """An idea as the comparer sees it: no self-ratings (they would anchor the comparison)."""
    return (
        f"Title: {idea['title']}\nHypothesis: {idea['hypothesis']}\n"
        f"Experiment plan: {idea['experiment_plan']}\nRisks: {idea['risks']}"
    )


def describe_plan(plan: Any) -> str:
    return f"Rationale: {plan['rationale']}\nConfiguration changes: {json.dumps(plan['applied'], sort_keys=True)}"


def idea_ranker(ctx: RunContext, stage: str) -> TournamentRanker:
    return TournamentRanker(
        ctx, stage, describe_idea, task=ctx.template.task_description, kind="research ideas",
        criteria="novelty, scientific interest and feasibility within the task",
    )  # fmt: skip


def plan_ranker(ctx: RunContext, stage: str) -> TournamentRanker:
    return TournamentRanker(
        ctx, stage, describe_plan, task=ctx.template.task_description, kind="experiment plans",
        criteria="how well the run tests the chosen idea's hypothesis",
    )  # fmt: skip


def draft_ranker(ctx: RunContext, stage: str) -> TournamentRanker:
    """Drafts are compared on their Markdown, each cut to half the reviewer's share of the writeup model's context."""
    cap = max(1000, ctx.gateway.limits_for("writeup").review_paper_chars // 2)

    def describe(draft: Any) -> str:
        text = (ctx.run_dir / str(draft["dir"]) / str(draft["md"])).read_text(encoding="utf-8")
        return text if len(text) <= cap else text[:cap] + "\n[... cut]"

    return TournamentRanker(
        ctx, stage, describe, task=ctx.template.task_description, kind="paper drafts",
        criteria="soundness, clarity, and whether every claim is supported by the reported results",
    )  # fmt: skip
