"""Best-of-n in the pipeline: ideas, experiment plans and paper drafts as scored pools with one marked winner.

Each stage draws its n candidates through `scientist.measure.sampling.BestOfN` (seeds = seed + index, up to
`best_of_n_concurrency` at a time) and scores them with the stage's selector (`ideas_selector`, `plan_selector`,
`draft_selector`) wrapped in `monitors.selection.monitored_selector`: a candidate with monitor events at
`flag_severity` or worse is excluded (`flagged_candidates = "exclude"`, the default) or may win but stays flagged
(`allow`) — never silently. Scoring happens in the node's own thread (`sampling.rescore`) because some scores run
the sandbox, whose monitors may ask a human (an approval interrupt must come from the node). The whole pool, with
each candidate's score, seed, tokens, cost, error and flags, goes to `candidates/<stage>.json`, the audit
(`best_of_n`) and, through the run-folder import, the store's `candidates` table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scientist.audit.events import BestOfN as BestOfNEvent
from scientist.audit.events import MonitorCandidateExcluded, MonitorFlaggedCandidate, MonitorFlaggedWinner
from scientist.errors import BudgetExceededError, StructuredOutputError
from scientist.measure.sampling import (
    AllCandidatesFailedError,
    BestOfN,
    BestOfNResult,
    SampleError,
    Selector,
    rescore,
    resolve_selector,
)
from scientist.monitors.events import MonitorEvent, severity_rank
from scientist.monitors.selection import monitored_selector
from scientist.runs import RunFolder

if TYPE_CHECKING:
    from scientist.context import RunContext
    from scientist.stages.reviewselect import ReviewRanker
    from scientist.stages.tournament import TournamentRanker

Scan = Callable[[Any], list[MonitorEvent]]


class StageAbort(Exception):
    """Carries an error that is not one candidate's failure (a replay miss, a bug) out of a best-of-n draw."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def fatal_errors() -> tuple[type[BaseException], ...]:
    """Errors that stop a best-of-n instead of failing one candidate: a spent budget, a stop, a human being asked."""
    from langgraph.errors import GraphBubbleUp

    from scientist.monitors.policy import MonitorStopError

    return (BudgetExceededError, MonitorStopError, GraphBubbleUp, StageAbort)


def draw(
    ctx: RunContext,
    n: int,
    sample: Callable[[int, int], Any],
    *,
    failures: tuple[type[BaseException], ...] = (StructuredOutputError,),
    concurrency: int | None = None,
) -> BestOfNResult[Any]:
    """n samples at seeds seed + index, up to `concurrency` (None: `best_of_n_concurrency`) at a time, unscored
    (see `select`). A sample that runs the sandbox is drawn with concurrency 1: inline, in the node's thread, where
    a monitor's approval interrupt must come from.

    Only `failures` (by default: the model's output stayed invalid) fail a candidate; anything else stops the
    stage as it would without best-of-n (a replay miss must never be hidden by the other candidates).
    """

    def guarded(index: int, seed: int) -> Any:
        try:
            return sample(index, seed)
        except SampleError as err:
            if isinstance(err.cause, failures):
                raise
            raise StageAbort(err.cause) from err
        except failures:
            raise
        except fatal_errors():
            raise
        except Exception as err:
            raise StageAbort(err) from err

    control = BestOfN(
        n=n, seed=ctx.settings.seed, selector=_unscored, concurrency=concurrency or ctx.settings.best_of_n_concurrency,
        fatal=fatal_errors(),
    )  # fmt: skip
    try:
        return control.run(guarded)
    except StageAbort as err:
        raise err.cause from None


def pool_path(ctx: RunContext, stage: str) -> Path:
    return ctx.folder.candidate_pool(stage)


def no_events(value: Any) -> list[MonitorEvent]:
    return []


def _unscored(value: Any) -> float:
    return 0.0  # every candidate ties: the first eligible one wins


def stage_selector(name: str, own: Mapping[str, Selector]) -> Selector:
    """The scorer a stage's selector setting names: the stage's own (`self_rating`, `metric`, `review`...), else
    the registry's (`first`, `max_field:<name>`, a plugin's; a pool ranker's eligibility gate). The settings
    checked the name when they loaded (scientist.config)."""
    if name in own:
        return own[name]
    return resolve_selector(name)[1]


def select(
    ctx: RunContext,
    stage: str,
    pool: BestOfNResult[Any],
    selector_name: str,
    selector: Selector,
    *,
    scan: Scan = no_events,
    excluded: dict[int, str] | None = None,
    ranker: TournamentRanker | ReviewRanker | None = None,
    extra: dict[str, Any] | None = None,
) -> BestOfNResult[Any]:
    """Score `pool` with `selector` under the monitor policy, write and audit it; returns the scored pool.

    A single candidate wins unscored (no judge call for n = 1, so a default run costs what it did before). A
    `ranker` (selector = tournament or reviewer) then scores the eligible candidates; its record (comparisons,
    review forms) goes into the pool file under its `record_key`, as do the `extra` keys (e.g. the ideas'
    reflection rounds).
    """
    settings = ctx.settings
    label, base = (selector_name, selector) if pool.n > 1 else ("first", _unscored)
    ranker = ranker if pool.n > 1 else None
    guarded = monitored_selector(base, scan, threshold=settings.flag_severity, policy=settings.flagged_candidates)
    try:
        scored = rescore(pool, guarded, excluded=excluded, fatal=fatal_errors(), ranker=ranker)
    except AllCandidatesFailedError as err:
        failed = err.result.model_copy(update={"selector": label})
        write_pool(ctx, stage, failed, scan, status="no_winner", extra=extra)
        raise
    scored = scored.model_copy(update={"selector": label})
    kept = ranker.record() if ranker is not None else None
    keys = {**(extra or {}), **({ranker.record_key: kept} if ranker is not None and kept is not None else {})}
    write_pool(ctx, stage, scored, scan, status="selected", extra=keys or None)
    return scored


def write_pool(
    ctx: RunContext,
    stage: str,
    pool: BestOfNResult[Any],
    scan: Scan = no_events,
    *,
    status: str = "drawn",
    extra: dict[str, Any] | None = None,
) -> Path:
    """`candidates/<stage>.json`: the pool plus each candidate's monitor flags and the exclusions, then the audit.

    A `drawn` pool is not selected yet: no scores, no winner. `extra` adds top-level keys (a tournament's record)."""
    settings = ctx.settings
    if status == "drawn":
        unscored = [c.model_copy(update={"score": None, "winner": False}) for c in pool.candidates]
        pool = pool.model_copy(update={"candidates": unscored, "winner_index": None, "selector": "pending"})
    flags = {
        c.index: [event.model_dump(mode="json") for event in scan(c.value)]
        for c in pool.candidates
        if c.value is not None
    }
    excluded = [
        {"index": c.index, "reason": c.error}
        for c in pool.candidates
        if c.error and (c.error.startswith("excluded: ") or "FlaggedCandidateError" in c.error)
    ]
    data = {
        "stage": stage,
        "status": status,
        "flag_policy": settings.flagged_candidates,
        "flag_severity": settings.flag_severity,
        **json.loads(pool.model_dump_json(fallback=repr)),
        "flags": {str(index): events for index, events in flags.items() if events},
        "excluded": excluded,
        **(extra or {}),
    }
    path = RunFolder.write_json(pool_path(ctx, stage), data, indent=1)
    if status != "drawn":
        scored = BestOfNEvent(
            stage=stage,
            n=pool.n,
            selector=pool.selector,
            winner_index=pool.winner_index,
            scores=[c.score for c in pool.candidates],
            excluded=excluded,
            flagged=sorted(flags_at(flags)),
            path=str(path.relative_to(ctx.run_dir)),
        )
        ctx.audit.emit(scored, "pipeline")
        _record_flagged(ctx, stage, pool, flags)
        for item in excluded:
            ctx.progress(stage, f"candidate {item['index']} not eligible: {item['reason']}")
        if pool.winner_index is not None:
            winner = pool.candidates[pool.winner_index]
            shown = "" if winner.score is None else f", score {winner.score:g}"
            ctx.progress(stage, f"best of {pool.n} by {pool.selector}: candidate {winner.index}{shown}")
    return path


def _record_flagged(
    ctx: RunContext, stage: str, pool: BestOfNResult[Any], flags: dict[int, list[dict[str, Any]]]
) -> None:
    """Every candidate flagged at `flag_severity` or worse leaves a `monitor_*` audit record (so the store's
    monitor_flags and the leaderboard show it): `monitor_candidate_excluded`, or `monitor_flagged_winner` when the
    `allow` policy let it win."""
    threshold = ctx.settings.flag_severity
    for candidate in pool.candidates:
        events = [MonitorEvent.model_validate(e) for e in flags.get(candidate.index, [])]
        flagged = [event for event in events if event.at_least(threshold)]
        if not flagged:
            continue
        worst = max(flagged, key=lambda event: severity_rank(event.severity))
        event: type[MonitorFlaggedWinner | MonitorCandidateExcluded | MonitorFlaggedCandidate]
        event = MonitorFlaggedWinner if candidate.winner else MonitorCandidateExcluded
        if not candidate.winner and not (candidate.error or "").startswith("selector: FlaggedCandidateError"):
            event = MonitorFlaggedCandidate  # lost on its score; still on the record
        ctx.audit.emit(
            event(
                monitor=worst.monitor,
                severity=worst.severity,
                rule=worst.rule,
                evidence=f"best-of-n {stage} candidate {candidate.index}: {worst.evidence}",
                node=stage,
                candidate=candidate.index,
                events=len(flagged),
            ),
            "pipeline",
        )


def flags_at(flags: dict[int, list[dict[str, Any]]]) -> set[int]:
    return {index for index, events in flags.items() if events}


def load_pool(ctx: RunContext, stage: str) -> BestOfNResult[Any] | None:
    path = pool_path(ctx, stage)
    return BestOfNResult.load(path) if path.is_file() else None


def audit_events(ctx: RunContext, node: str, candidate: str) -> list[MonitorEvent]:
    """The monitor events the audit log holds for one candidate (e.g. a plan's sandbox run)."""
    events = []
    for record in ctx.audit.find(kind="monitor_event"):
        payload = record.payload
        if payload.get("node") == node and payload.get("candidate") == candidate:
            events.append(MonitorEvent.model_validate(payload))
    return events


def summary_lines(run_dir: Path) -> list[str]:
    """One line per best-of-n pool of a finished run (n > 1), and one per excluded or flagged candidate."""
    lines = []
    for path in sorted(RunFolder(run_dir).candidates.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or int(data.get("n") or 0) < 2:
            continue
        lines.append(
            f"best-of-{data['n']} {data.get('stage', path.stem)} by {data.get('selector')}:"
            f" winner candidate {data.get('winner_index')} ({path.relative_to(run_dir)})"
        )
        lines += [f"  candidate {item['index']} not eligible: {item['reason']}" for item in data.get("excluded", [])]
        winner = str(data.get("winner_index"))
        if winner in (data.get("flags") or {}):
            lines.append(f"  the winner carries monitor flags (flagged_candidates = {data.get('flag_policy')})")
    return lines
