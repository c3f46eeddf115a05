"""Best-of-n paper drafts: `write_paper` called `draft_n` times as a whole, the best draft becomes the run's paper.

Why wrap the top-level call instead of sampling inside the writer: the writer's internals change on their own
schedule; any writer that drafts through `ctx.gateway` into `ctx.run_dir / "paper"` works here. Candidate i writes
into candidates/draft_<i>/ (its `experiments` is a link to the run's, so every path the writer reads resolves) with
a gateway whose seeds are shifted by i * DRAFT_SEED_STRIDE: candidate 0 asks exactly what a single draft asks. The
winner's paper/ folder is copied to the run's paper/.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scientist.audit import events as audit_events
from scientist.measure.sampling import Sampled
from scientist.monitors.events import MonitorEvent
from scientist.records import Paper
from scientist.runs import RunFolder
from scientist.sandbox.final_info import ok_final_infos

if TYPE_CHECKING:
    from scientist.context import RunContext
    from scientist.llm.gateway import LLMGateway

DRAFT_STAGE = "draft"
DRAFT_SEED_STRIDE = 5  # * draft_n (<= 16) stays below a study's SAMPLE_STRIDE: runs never share seeds


class SeedBandGateway:
    """The run's gateway (same budget, audit and store) with every seed shifted by `index` * DRAFT_SEED_STRIDE."""

    def __init__(self, gateway: LLMGateway, index: int) -> None:
        self._gateway = gateway
        self._shift = index * DRAFT_SEED_STRIDE

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)

    def _seed(self, sample_index: int, seed: int | None) -> int:
        return (self._gateway.settings.seed + sample_index if seed is None else seed) + self._shift

    def structured(self, *args: Any, sample_index: int = 0, seed: int | None = None, **kwargs: Any) -> Any:
        return self._gateway.structured(*args, sample_index=sample_index, seed=self._seed(sample_index, seed), **kwargs)

    def complete(self, *args: Any, sample_index: int = 0, seed: int | None = None, **kwargs: Any) -> Any:
        return self._gateway.complete(*args, sample_index=sample_index, seed=self._seed(sample_index, seed), **kwargs)


def _band_spend(ctx: RunContext, before: int, index: int) -> tuple[int | None, float | None]:
    """Tokens and cost of the write-stage calls in candidate `index`'s seed band, among records after `before`."""
    if ctx.gateway.audit is None:
        return None, None
    low = ctx.settings.seed + index * DRAFT_SEED_STRIDE
    calls = [
        record.payload
        for record in ctx.audit.records()[before:]
        if record.kind == "llm_call"
        and str(record.payload.get("stage", "")).startswith("write")
        and isinstance(record.payload.get("seed"), int)
        and low <= record.payload["seed"] < low + DRAFT_SEED_STRIDE
    ]
    costs = [call.get("cost_usd") for call in calls]
    known = [float(cost) for cost in costs if cost is not None]
    return sum(int(call.get("total_tokens", 0)) for call in calls), sum(known) if len(known) == len(costs) else None


def _candidate_dir(ctx: RunContext, index: int) -> Path:
    folder = ctx.folder.candidates / f"draft_{index}"
    folder.mkdir(parents=True, exist_ok=True)
    link = RunFolder(folder).experiments  # the candidate's folder is laid out like the run's
    if not link.is_symlink():
        if link.exists():
            shutil.rmtree(link)
        os.symlink(Path("..") / ".." / RunFolder.EXPERIMENTS, link)
    return folder


def _scan(ctx: RunContext, records: list[dict[str, Any]]) -> Any:
    """Fabricated numbers and reviewer-directed text in one candidate draft (recorded by the winner's check)."""
    from scientist.monitors.paperscan import scan_paper

    runs = ok_final_infos(ctx.run_dir, records)

    def scan(draft: dict[str, Any]) -> list[MonitorEvent]:
        path = RunFolder(ctx.run_dir / draft["dir"]).draft
        sections = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        events = scan_paper(sections, runs, ctx.template)
        return [e.model_copy(update={"run_id": ctx.run_id, "node": "write", "candidate": draft["dir"]}) for e in events]

    return scan


def _by_review(ctx: RunContext) -> Any:
    """One reviewer, no reflection: the draft's overall score (the cheap end of the run's own reviewer)."""
    from scientist.reviews.reviewer import ReviewOptions, review_paper

    limits = ctx.gateway.limits_for("review")
    options = ReviewOptions(
        reflections=0, max_paper_chars=limits.review_paper_chars, max_tokens=limits.review_max_tokens
    )

    def score(draft: dict[str, Any]) -> float:
        markdown = (ctx.run_dir / draft["dir"] / draft["md"]).read_text(encoding="utf-8")
        return float(review_paper(ctx.gateway, markdown, sample_index=draft["candidate"], options=options).form.overall)

    return score


def write_best_draft(
    ctx: RunContext,
    idea: dict[str, Any],
    records: list[dict[str, Any]],
    figure: str | None,
    feedback: str | None = None,
    novelty: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`write_paper` once (draft_n = 1), or draft_n times and the winner by `draft_selector` as the run's paper."""
    from scientist.stages import bestofn, reviewselect
    from scientist.stages.tournament import TournamentRanker, draft_ranker
    from scientist.stages.writing import write_paper

    n = ctx.settings.draft_n
    if n == 1:
        return write_paper(ctx, idea, records, figure, feedback=feedback, novelty=novelty)

    def sample(index: int, seed: int) -> Sampled[dict[str, Any]]:
        folder = _candidate_dir(ctx, index)
        sub = dataclasses.replace(ctx, run_dir=folder, gateway=SeedBandGateway(ctx.gateway, index))  # type: ignore[arg-type]
        before = len(ctx.audit.records())
        ctx.progress("write", f"draft {index + 1}/{n}")
        paper = write_paper(sub, idea, records, figure, feedback=feedback, novelty=novelty)
        tokens, cost = _band_spend(ctx, before, index)
        value = {"candidate": index, "dir": str(folder.relative_to(ctx.run_dir)), **paper}
        return Sampled(value=value, tokens=tokens, cost_usd=cost)

    pool = bestofn.draw(ctx, n, sample)
    name = ctx.settings.draft_selector
    selector = _by_review(ctx) if name == "review" else bestofn.stage_selector(name, {})
    ranker: TournamentRanker | reviewselect.ReviewRanker | None = None
    if name == "tournament":
        ranker = draft_ranker(ctx, DRAFT_STAGE)
    elif name == "reviewer":
        ranker = reviewselect.draft_ranker(ctx, DRAFT_STAGE)
    scored = bestofn.select(ctx, DRAFT_STAGE, pool, name, selector, scan=_scan(ctx, records), ranker=ranker)
    winner: dict[str, Any] = scored.winner.value or {}
    target = ctx.folder.paper_dir
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(RunFolder(ctx.run_dir / winner["dir"]).paper_dir, target)
    ctx.audit.emit(audit_events.DraftSelected(candidate=winner["candidate"], selector=scored.selector), "pipeline")
    paper = {key: value for key, value in winner.items() if key not in ("candidate", "dir")}
    Paper.checked(paper, ctx.folder.paper_json)
    RunFolder.write_json(ctx.folder.paper_json, paper)  # the winner's, at the run root as a single draft writes it
    return paper
