"""Ideate, revise, select: from a topic to one chosen research idea (novelty is judged in `stages.novelty`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.errors import StructuredOutputError

Rating = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
IDEAS_STAGE = "ideas"


class Idea(BaseModel):
    """A research idea as the model proposes it; string caps keep small models from rambling past max_tokens."""

    title: str = Field(min_length=3, max_length=120)
    hypothesis: str = Field(min_length=10, max_length=500)
    experiment_plan: str = Field(min_length=10, max_length=600)
    risks: str = Field(min_length=3, max_length=400)
    interestingness: Rating = Field(description="Self-rated, 1..10")
    feasibility: Rating = Field(description="Self-rated, 1..10")


class IdeaReflection(BaseModel):
    """One reflection round's answer: what is weak about the idea, and the idea revised (or unchanged)."""

    critique: str = Field(max_length=600)
    idea: Idea


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
    """Sample `num_ideas` ideas (best-of-n draw: seeds differ, `best_of_n_concurrency` at a time); failures are
    recorded, not fatal. The drawn pool goes to candidates/ideas.json; the select node scores it.

    The prompt lists the indexed papers nearest to the topic, so the model can steer away from published work
    (unless `retrieval = "off"`).
    """
    from scientist.measure.sampling import AllCandidatesFailedError, Sampled, structured_sampler
    from scientist.stages import bestofn
    from scientist.stages.papers import related_papers

    n = ctx.settings.num_ideas
    if ctx.settings.retrieval == "off":  # the prompt's related block is then left out (it renders only when set)
        related: list[dict[str, Any]] = []
        ctx.audit.emit(audit_events.IdeationContext(related=related, retrieval="off"), "pipeline")
    else:
        ctx.progress("ideate", "looking up related papers in the local index")
        related = related_papers(ctx, topic)
        ctx.audit.emit(audit_events.IdeationContext(related=related), "pipeline")
    sampler = structured_sampler(ctx.gateway, "ideate", _variables(ctx, topic, related), Idea, stage="ideate")
    reflections: dict[str, list[dict[str, Any]]] = {}

    def sample(index: int, seed: int) -> Any:
        ctx.progress("ideate", f"idea {index + 1}/{n}")
        drawn = sampler(index, seed)
        if not ctx.settings.idea_reflections:
            return drawn
        before = len(ctx.audit.records())
        idea, reflections[str(index)] = _reflect(ctx, topic, drawn.value, index, seed)
        tokens, cost = _reflection_spend(ctx, before, index, seed)
        total = None if drawn.cost_usd is None or cost is None else drawn.cost_usd + cost
        return Sampled(value=idea, tokens=(drawn.tokens or 0) + tokens, cost_usd=total)

    try:
        pool = bestofn.draw(ctx, n, sample)
    except AllCandidatesFailedError as err:
        _record_failures(ctx, err.result)
        bestofn.write_pool(ctx, IDEAS_STAGE, err.result, status="no_winner", extra=_kept(reflections))
        raise StructuredOutputError(
            f"none of the {n} idea samples was valid",
            hint="raise --num-ideas or use a stronger --model; resume continues from here",
        ) from None
    _record_failures(ctx, pool)
    bestofn.write_pool(ctx, IDEAS_STAGE, pool, extra=_kept(reflections))
    return [{"index": c.index, **c.value.model_dump()} for c in pool.candidates if c.value is not None]


def _kept(reflections: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The reflection rounds as the pool file's "reflections" (sample index -> rounds); None when there were none."""
    return {"reflections": dict(sorted(reflections.items(), key=lambda item: int(item[0])))} if reflections else None


def _reflect(ctx: RunContext, topic: str, idea: Idea, index: int, seed: int) -> tuple[Idea, list[dict[str, Any]]]:
    """`idea_reflections` rounds of critique and revision of one drawn idea (prompt `idea_reflect`, stage
    `ideate.reflect`, the sample's index and seed); its nearest indexed papers are shown when retrieval is on.

    Every round is returned (critique, the idea before and after, the neighbours shown) and audited
    (`idea_reflected`); a round whose answer stays invalid is a `stage_failure` and the idea stays as it was.
    """
    from scientist.stages.papers import related_papers

    rounds: list[dict[str, Any]] = []
    total = ctx.settings.idea_reflections
    for number in range(1, total + 1):
        shown = [] if ctx.settings.retrieval == "off" else related_papers(ctx, f"{idea.title} {idea.hypothesis}")
        variables = {
            "topic": topic, "task_description": ctx.template.task_description, "idea": idea.model_dump(),
            "related": [{"id": paper["id"], "title": paper["title"]} for paper in shown], "round": number,
            "rounds": total,
        }  # fmt: skip
        try:
            answer = ctx.gateway.structured(
                "idea_reflect", variables, IdeaReflection, stage="ideate.reflect", sample_index=index, seed=seed
            )
        except StructuredOutputError as err:
            failure = audit_events.StageFailure(stage="ideate.reflect", sample=index, round=number, error=str(err))
            ctx.audit.emit(failure, "pipeline")
            rounds.append({"round": number, "error": str(err)})
            continue
        rounds.append({
            "round": number, "critique": answer.critique, "neighbours": [paper["id"] for paper in shown],
            "before": idea.model_dump(), "after": answer.idea.model_dump(),
        })  # fmt: skip
        reflected = {"sample": index, "round": number, "from": idea.title, "to": answer.idea.title}  # `from`: alias
        ctx.audit.emit(audit_events.IdeaReflected.model_validate(reflected), "pipeline")
        idea = answer.idea
    return idea, rounds


def _reflection_spend(ctx: RunContext, before: int, index: int, seed: int) -> tuple[int, float | None]:
    """Tokens and cost of one sample's reflection calls (audit records after `before`), so a reflected idea's
    candidate carries its whole cost (compute-matched comparisons charge reflection too)."""
    calls = [
        record.payload
        for record in ctx.audit.records()[before:]
        if record.kind == "llm_call"
        and record.payload.get("stage") == "ideate.reflect"
        and record.payload.get("seed") == seed
        and record.payload.get("sample_index") == index
    ]
    costs = [call.get("cost_usd") for call in calls]
    known = [float(cost) for cost in costs if cost is not None]
    return sum(int(call.get("total_tokens", 0)) for call in calls), sum(known) if len(known) == len(costs) else None


def _record_failures(ctx: RunContext, pool: Any) -> None:
    for candidate in pool.candidates:
        if candidate.error:
            error = candidate.error.removeprefix("StructuredOutputError: ")
            ctx.audit.emit(audit_events.StageFailure(stage="ideate", sample=candidate.index, error=error), "pipeline")


def revise_idea(ctx: RunContext, topic: str, idea: dict[str, Any], feedback: str, index: int) -> dict[str, Any] | None:
    """A new idea in place of one judged not novel: the same prompt plus the rejection and its closest papers.

    `index` is a fresh sample index (its seed differs from every earlier sample); None when the model fails.
    """
    from scientist.stages.papers import related_papers

    related = [] if ctx.settings.retrieval == "off" else related_papers(ctx, f"{idea['title']} {idea['hypothesis']}")
    variables = {**_variables(ctx, topic, related), "revise": {"title": idea["title"], "feedback": feedback}}
    try:
        revised = ctx.gateway.structured("ideate", variables, Idea, stage="ideate.revise", sample_index=index)
    except StructuredOutputError as err:
        ctx.audit.emit(audit_events.StageFailure(stage="ideate.revise", sample=index, error=str(err)), "pipeline")
        return None
    revision = {"from": idea["index"], "to": index, "title": revised.title}
    ctx.audit.emit(audit_events.IdeaRevised.model_validate(revision), "pipeline")
    return {"index": index, "revised_from": idea["index"], **revised.model_dump()}


def self_rating(idea: Any) -> float:
    """The model's own rating of its idea: interestingness + feasibility."""
    return float(idea["interestingness"] + idea["feasibility"])


def novelty_score(idea: Any) -> float:
    """Distance from published work: minus the highest cosine similarity to an indexed paper (higher is newer)."""
    verdict = idea.get("novelty") if isinstance(idea, dict) else None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("max_similarity"), int | float):
        raise ValueError("this idea has no novelty verdict (the novelty check was off)")
    return -float(verdict["max_similarity"])


IDEA_SELECTORS = {
    "self_rating": self_rating, "novelty": novelty_score, "first": lambda idea: 0.0, "tournament": lambda idea: 0.0,
    "reviewer": lambda idea: 0.0,
}  # fmt: skip
IDEA_RULES = {
    "self_rating": "max(interestingness + feasibility), ties to the lowest sample index",
    "novelty": "min(max cosine similarity to indexed papers), ties to the lowest sample index",
    "first": "the first eligible sample",
    "tournament": "max Bradley-Terry rating from position-swapped pairwise comparisons by the model, ties to the"
    " lowest sample index",
    "reviewer": "max mean Overall of selection_reviews review forms by the review role's model, ties to the lowest"
    " sample index",
}


def select_idea(ctx: RunContext, ideas: list[dict[str, Any]], candidates: list[dict[str, Any]] | None) -> tuple[
    dict[str, Any], str
]:
    """Score every drawn idea with `ideas_selector`; only `candidates` (the ideas the novelty check let through,
    revised ones included) are eligible, the others are kept in the pool as excluded. Returns (winner, rule).
    """
    from scientist.errors import ConfigError
    from scientist.measure.sampling import BestOfNResult, Candidate
    from scientist.stages import bestofn, reviewselect, tournament

    name = ctx.settings.ideas_selector
    if name == "novelty" and ctx.settings.novelty_policy == "off":
        raise ConfigError(
            "ideas_selector = novelty needs the novelty check, but novelty_policy is off",
            hint="set novelty_policy to filter, revise or keep, or choose ideas_selector = self_rating",
        )
    drawn = bestofn.load_pool(ctx, IDEAS_STAGE)
    eligible = {int(idea["index"]): idea for idea in (ideas if candidates is None else candidates)}
    by_index = {int(idea["index"]): idea for idea in ideas} | eligible
    pool_candidates: list[Candidate[Any]] = []
    excluded: dict[int, str] = {}
    for position, index in enumerate(sorted(by_index) if drawn is None else _pool_order(drawn, by_index)):
        old = drawn.candidates[index] if drawn is not None and index < drawn.n else None
        candidate: Candidate[Any] = Candidate(
            index=position,
            seed=old.seed if old is not None else ctx.settings.seed + index,
            value=by_index.get(index),
            error=old.error if old is not None and index not in by_index else None,
            tokens=old.tokens if old is not None else None,
            cost_usd=old.cost_usd if old is not None else None,
        )
        if candidate.value is not None and index not in eligible:
            excluded[position] = "not novel (filtered by the novelty check)"
        pool_candidates.append(candidate)
    pool: BestOfNResult[Any] = BestOfNResult(
        n=len(pool_candidates), temperature=None, seed=ctx.settings.seed, selector=name,
        concurrency=ctx.settings.best_of_n_concurrency, candidates=pool_candidates, winner_index=None,
        wall_time_s=drawn.wall_time_s if drawn is not None else 0.0,
    )  # fmt: skip
    if len(eligible) == 1:  # one eligible idea (e.g. the least similar one after novelty): it wins unscored
        name = "first"
    ranker: tournament.TournamentRanker | reviewselect.ReviewRanker | None = None
    if name == "tournament":
        ranker = tournament.idea_ranker(ctx, IDEAS_STAGE)
    elif name == "reviewer":
        ranker = reviewselect.idea_ranker(ctx, IDEAS_STAGE)
    kept = _drawn_reflections(ctx)  # the drawn file's reflection rounds survive its rewrite as the selected pool
    scored = bestofn.select(
        ctx, IDEAS_STAGE, pool, name, bestofn.stage_selector(name, IDEA_SELECTORS), excluded=excluded,
        ranker=ranker, extra=kept,
    )  # fmt: skip
    winner: dict[str, Any] = scored.winner.value or {}
    return winner, IDEA_RULES.get(name, f"max score by the {name} selector, ties to the lowest sample index")


def _drawn_reflections(ctx: RunContext) -> dict[str, Any] | None:
    import json

    from scientist.stages import bestofn

    path = bestofn.pool_path(ctx, IDEAS_STAGE)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {"reflections": data["reflections"]} if isinstance(data, dict) and data.get("reflections") else None


def _pool_order(drawn: Any, by_index: dict[int, dict[str, Any]]) -> list[int]:
    """The drawn samples in order (failed ones too), then the revised ideas the novelty check added."""
    return list(range(drawn.n)) + sorted(index for index in by_index if index >= drawn.n)
