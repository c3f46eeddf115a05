"""Best-of-n at the experiment stage (`edit_n` > 1): each planned edit run is tried as n candidate runs, the best by
the harness-measured primary metric is kept.

Why whole runs and not n edits per prompt: an edit is only worth its measured result, and a failed run's fix needs
that run's error, so each candidate is a complete edit→run→fix run (`run_planned`) in its own folder
(`experiments/<label>_c<i>`), its edit calls at their own seed. The score is the run record's `metric`, read by
the harness from the run's final_info (under a template contract v2 the protected evaluator's measurement, never
the agent's own claim); a failed run is not eligible. Candidates run one after another in the node's thread (the
sandbox and a monitor's approval interrupt belong there), through the same `bestofn.draw`/`select` as the other
stages: monitor-flagged candidates are excluded (or flagged), the pool with every candidate's tokens and cost goes
to `candidates/edit_<label>.json`, the audit (`best_of_n`, `edit_selected`) and the store. The search then goes on
from the winner (its label is the parent of later runs); if every candidate failed, the first one stands as the
step's failed run, exactly as a single failed run does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scientist.audit import events as audit_events
from scientist.measure.sampling import AllCandidatesFailedError, Sampled
from scientist.stages.search import PlannedRun, Runner, score

if TYPE_CHECKING:
    from scientist.context import RunContext
    from scientist.monitors.events import MonitorEvent

EDIT_PROMPT = "experiment_edit"
# Candidate i's edit calls use seed + (ordinal + i * SEED_STEP) % SEED_BAND: within the run's band of seeds (a
# study spaces runs SAMPLE_STRIDE = 100 apart) and distinct for every candidate of one step (17 is coprime to 100).
SEED_BAND = 100
SEED_STEP = 17


def candidate_run(ctx: RunContext, plan: PlannedRun, index: int) -> PlannedRun:
    """Candidate `index` of a planned edit run: its own label and seed (candidate 0 asks at the run's own seed)."""
    seed = ctx.settings.seed + (plan.ordinal + index * SEED_STEP) % SEED_BAND
    return plan.model_copy(update={"label": f"{plan.label}_c{index}", "seed": seed})


def stage_name(plan: PlannedRun) -> str:
    return f"edit_{plan.label}"


def best_edit_run(ctx: RunContext, plan: PlannedRun, run_planned: Runner) -> dict[str, Any]:
    """`edit_n` candidate runs of `plan`, each by `run_planned` (the experiment stage's, passed in: that module
    calls this one); returns the winner's record (or the first candidate's, if all failed)."""
    from scientist.stages import bestofn

    n = ctx.settings.edit_n
    stage = stage_name(plan)
    records: dict[int, dict[str, Any]] = {}

    def sample(index: int, seed: int) -> Sampled[dict[str, Any]]:
        run = candidate_run(ctx, plan, index)
        ctx.progress("experiment", f"{plan.label}: candidate {index + 1}/{n}")
        record = run_planned(run)
        records[index] = record
        tokens, cost = spend(ctx, run)
        value = {key: record.get(key) for key in ("label", "ok", "metric", "failure", "files_changed")}
        return Sampled(value={"candidate": index, "seed": run.seed, **value}, tokens=tokens, cost_usd=cost)

    pool = bestofn.draw(ctx, n, sample, concurrency=1)
    seeds = [candidate_run(ctx, plan, c.index).seed for c in pool.candidates]
    pool = pool.model_copy(
        update={"candidates": [c.model_copy(update={"seed": s}) for c, s in zip(pool.candidates, seeds, strict=True)]}
    )
    direction = ctx.template.metrics[ctx.template.primary_metric].direction

    def by_metric(value: dict[str, Any]) -> float:
        if not value["ok"]:
            raise RuntimeError(f"{value['label']} failed: {value['failure']}")
        return score(value, direction)

    def scan(value: dict[str, Any]) -> list[MonitorEvent]:
        return run_events(ctx, str(value["label"]))

    try:
        scored = bestofn.select(ctx, stage, pool, "metric", by_metric, scan=scan)
    except AllCandidatesFailedError:
        ctx.audit.emit(audit_events.EditSelected(run=plan.label, candidate=None, label=None), "pipeline")
        return records[0]
    winner = scored.winner
    ctx.audit.emit(
        audit_events.EditSelected(
            run=plan.label,
            candidate=winner.index,
            label=records[winner.index]["label"],
            score=winner.score,
        ),
        "pipeline",
    )
    return records[winner.index]


def spend(ctx: RunContext, run: PlannedRun) -> tuple[int | None, float | None]:
    """Tokens and cost of one candidate's edit calls, from the whole audit log (so a resumed run, whose finished
    candidates make no calls again, still charges them): `experiment_edit` calls at its sample index and seed."""
    calls = [
        record.payload
        for record in ctx.audit.find(kind="llm_call")
        if record.payload.get("prompt_template") == EDIT_PROMPT
        and record.payload.get("sample_index") == run.ordinal
        and record.payload.get("seed") == run.seed
    ]
    costs = [call.get("cost_usd") for call in calls]
    known = [float(cost) for cost in costs if cost is not None]
    return sum(int(call.get("total_tokens", 0)) for call in calls), sum(known) if len(known) == len(costs) else None


def run_events(ctx: RunContext, label: str) -> list[MonitorEvent]:
    """The monitor events of one candidate's sandbox runs (every attempt: `label`, `label#1`, ...)."""
    from scientist.monitors.events import MonitorEvent

    events = []
    for record in ctx.audit.find(kind="monitor_event"):
        payload = record.payload
        candidate = str(payload.get("candidate") or "")
        if payload.get("node") == "experiment" and (candidate == label or candidate.startswith(f"{label}#")):
            events.append(MonitorEvent.model_validate(payload))
    return events
