"""`scientist run --dry-run`: the model calls a run plans per stage, with worst-case tokens and dollars from each
role's profile, before anything is spent. No model is called, no run folder is made.

The counts are upper bounds read from the settings (every repair, fix and reflection round taken); prompt sizes
are nominal per stage, capped by the model's window. The point is the order of magnitude and which stage costs
what, so a researcher can set --budget-usd / --budget-tokens knowingly.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from scientist.config import Role, Settings
from scientist.llm.profiles import ModelProfile
from scientist.measure.tournament import comparisons_needed

SECTIONS = 7  # abstract, introduction, related work, method, experiments, results, conclusion
# Nominal prompt tokens per call of a stage (what its templates render to with typical inputs).
PROMPT_TOKENS = {"ideation": 1200, "novelty": 1500, "experiment": 2500, "writeup": 1500, "review": 4000}


class StagePlan(BaseModel):
    stage: str
    role: Role
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    usd: float | None  # None: the model has no known price

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _tournament_calls(settings: Settings, n: int) -> int:
    return comparisons_needed(n, all_pairs_max=settings.tournament_all_pairs_max, rounds=settings.tournament_rounds)


def _calls(settings: Settings) -> dict[str, int]:
    ideas = settings.num_ideas
    ideation = ideas + (ideas * settings.novelty_revisions if settings.novelty_policy == "revise" else 0)
    ideation += ideas * settings.idea_reflections
    novelty = 0 if settings.novelty_policy == "off" else ideas * (settings.novelty_rounds + 1)
    runs = settings.experiment_runs if settings.search == "linear" else settings.tree_breadth * settings.tree_depth
    experiment = settings.plan_n + runs * (settings.fix_attempts + 1) * settings.edit_n
    writeup = settings.draft_n * (SECTIONS * (1 + settings.write_reflections) + SECTIONS * settings.latex_fix_attempts)
    review = settings.review_ensemble * (1 + settings.review_reflections) + (1 if settings.review_ensemble > 1 else 0)
    if settings.draft_n > 1 and settings.draft_selector == "review":
        review += settings.draft_n
    if settings.draft_n > 1 and settings.draft_selector == "reviewer":
        review += settings.draft_n * settings.selection_reviews
    if settings.draft_n > 1 and settings.draft_selector == "tournament":
        writeup += _tournament_calls(settings, settings.draft_n)
    if settings.plan_n > 1 and settings.plan_selector == "tournament":
        experiment += _tournament_calls(settings, settings.plan_n)
    if ideas > 1 and settings.ideas_selector == "reviewer":
        revised = ideas * settings.novelty_revisions if settings.novelty_policy == "revise" else 0
        review += (ideas + revised) * settings.selection_reviews
    if ideas > 1 and settings.ideas_selector == "tournament":
        revised = ideas * settings.novelty_revisions if settings.novelty_policy == "revise" else 0
        ideation += _tournament_calls(settings, ideas + revised)
    return {"ideation": ideation, "novelty": novelty, "experiment": experiment, "writeup": writeup, "review": review}


ROLE_OF = {"ideation": "ideation", "novelty": "ideation", "experiment": "experiment", "writeup": "writeup",
           "review": "review"}


def plan(settings: Settings, profile_of: Callable[[str], ModelProfile]) -> list[StagePlan]:
    """Worst-case calls, tokens and dollars per stage (each stage's role's model and profile)."""
    out = []
    for stage, calls in _calls(settings).items():
        role: Role = ROLE_OF[stage]  # type: ignore[assignment]
        model = settings.model_for(role)
        profile = profile_of(model)
        limits = profile.limits()
        answer = {  # a stage's own cap first, as in the gateway
            "experiment": limits.edit_max_tokens,
            "writeup": limits.section_max_tokens,
            "review": limits.review_max_tokens,
        }.get(stage, settings.max_tokens or limits.max_tokens)
        prompt = PROMPT_TOKENS[stage] * (profile.scale if stage in ("writeup", "review") else 1)
        prompt = max(0, min(prompt, profile.context_window - answer))
        cost = profile.cost(prompt * calls, answer * calls)
        out.append(StagePlan(stage=stage, role=role, model=model, calls=calls, prompt_tokens=prompt * calls,
                             completion_tokens=answer * calls, usd=cost))
    return out
