"""`scientist probe run`: every cell of a suite (model x variant x probe x sample) as a real probed run, scored.

Each cell is one real pipeline run whose Settings carry the probe plan (`probes`), so the harness injects the probe
at its node. A cell is done once its result is in the store: running the suite again skips it, resumes a run that
was interrupted, and scores a run that ended but was not yet scored. A budget cut that the gateway enforces ends
a run paused on its budget; that is the probe's outcome, not a failure of the suite. A cell whose probe never
reached the agent (`scientist.probes.delivery`) is stored as not reached, unscored and unjudged: running it again
would replay the same seed, so it is done too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select

from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.batch import BatchPolicy, ItemFailure, ResultsFile, run_batch
from scientist.config import Settings
from scientist.errors import ConfigError, ScientistError
from scientist.probing.spec import ProbeCell, SuiteSpec, cells
from scientist.runs import RUN_FILE, load_run
from scientist.store.engine import Store
from scientist.store.models import ProbeFailure, ProbeResult
from scientist.study.spec import SAMPLE_STRIDE, SEED_STRIDE, StudySpec

RUNNING = ("created", "running")
CellProgress = Callable[[ProbeCell, str, str], None]


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "suite"


class CellOutcome(BaseModel):
    key: str
    run_id: str | None
    status: str  # the run's status, "scored" (done before), or "failed" (not scored: see `failure`)
    skipped: bool = False
    reached: bool | None = None  # False: the probe never reached the agent (`not_reached`, see `delivery`)
    delivery: str = ""
    failure: ItemFailure | None = None


class CellDone(BaseModel):
    """A ledger line: the cell was scored (after an earlier failure, it replaces that failure's line)."""

    id: str
    run_id: str


LEDGER = "cells.jsonl"


def as_study(spec: SuiteSpec) -> StudySpec:
    """The suite's grid as a study, to reuse the study's checks of templates, models, variants and settings."""
    return StudySpec(
        name=spec.name,
        topics=[spec.topic],
        templates=[spec.template],
        models=spec.models,
        variants=spec.variants,
        n=[1],
        seeds=[spec.seed],
        settings=spec.settings,
        presets=spec.presets,
    )


def check_suite(spec: SuiteSpec) -> None:
    """Everything a suite names exists, before any run starts; else one error naming the key and the options."""
    from scientist.llm.gateway import check_model
    from scientist.study.check import check_study
    from scientist.template import list_templates, load_template

    for key in ("probes", "runs_dir", "model", "template", "seed", "variant"):
        if key in spec.settings:
            raise ConfigError(
                f"[settings] may not set {key!r}: the suite controls it",
                hint="use the suite's own keys (probes, models, template, seed, variants)",
            )
    try:
        params = load_template(spec.template).params
    except ScientistError as err:
        raise ConfigError(
            f"unknown template {spec.template!r} in the suite's template",
            hint=f"valid: {', '.join(list_templates())} (or a template folder)",
        ) from err
    for number, probe in enumerate(spec.probes):
        if probe.forbid_param is not None and probe.forbid_param not in params:
            raise ConfigError(
                f"unknown forbid_param {probe.forbid_param!r} in probes[{number}]", hint=f"valid: {', '.join(params)}"
            )
        if probe.template is not None:
            try:
                load_template(probe.template)
            except ScientistError as err:
                raise ConfigError(
                    f"unknown template {probe.template!r} in probes[{number}]",
                    hint=f"valid: {', '.join(list_templates())} (or a template folder)",
                ) from err
    try:
        check_study(as_study(spec))
    except ConfigError as err:  # the study's checks, said of the suite
        raise ConfigError(err.message.replace("the study's", "the suite's"), hint=err.hint) from err
    for judge in spec.judges:
        try:
            check_model(Settings(**{**spec.settings, "model": judge}))
        except ScientistError as err:
            raise ConfigError(f"judge model {judge!r} cannot be used: {err.message}", hint=err.hint) from err


def cell_settings(spec: SuiteSpec, cell: ProbeCell, runs_dir: Path) -> Settings:
    from scientist.config import load_settings

    overrides: dict[str, Any] = {
        **spec.settings,
        **as_study(spec).preset(cell.variant),
        "model": cell.model,
        "template": cell.probe.template or spec.template,
        "variant": cell.variant,
        "seed": spec.seed * SEED_STRIDE + cell.sample * SAMPLE_STRIDE,
        "probes": [cell.probe.model_dump(mode="json", exclude_none=True)],
    }
    return load_settings(**overrides, runs_dir=runs_dir)


def _run_dir(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = sorted(path for path in folder.iterdir() if (path / RUN_FILE).is_file())
    return found[0] if found else None


def run_cell(spec: SuiteSpec, cell: ProbeCell, folder: Path, progress: CellProgress | None) -> Path:
    """Start the cell's run (or resume an interrupted one); a run that ends by a probe's deadline is a result."""
    from scientist.runner import resume_run, start_run

    def report(stage: str, message: str) -> None:
        if progress is not None:
            progress(cell, stage, message)

    existing = _run_dir(folder)
    try:
        if existing is None:
            start_run(cell_settings(spec, cell, folder), spec.topic, report)
        elif load_run(folder, existing.name)[0].status in RUNNING:
            resume_run(folder, existing.name, report)
    except KeyboardInterrupt:
        raise
    except Exception:
        if _run_dir(folder) is None:  # nothing ran: a configuration problem, not a probe outcome
            raise
    run_dir = _run_dir(folder)
    assert run_dir is not None
    return run_dir


def score_cell(spec: SuiteSpec, cell: ProbeCell, run_dir: Path) -> dict[str, Any]:
    from scientist.probes.judge import rate_trace
    from scientist.probes.scores import score_run
    from scientist.runner import resume_settings

    scores = score_run(run_dir)[0]
    ratings: dict[str, Any] = {}
    if not scores.reached:  # nothing the agent did after the probe: no trace to judge, and no judge call
        return {"scores": scores, "ratings": dict.fromkeys(spec.judges)}
    if spec.judges:
        settings = resume_settings(run_dir)
        for judge in spec.judges:
            ratings[judge] = rate_trace(settings, judge, run_dir, scores)
    return {"scores": scores, "ratings": ratings}


def save_result(store: Store, spec: SuiteSpec, cell: ProbeCell, run_dir: Path, scored: dict[str, Any]) -> None:
    scores = scored["scores"]
    values = {
        "run_id": run_dir.name,
        "model": cell.model,
        "variant": cell.variant,
        "probe": cell.probe.kind,
        "node": cell.probe.node,
        "sample": cell.sample,
        "run_status": scores.run_status,
        "harness_stopped": scores.harness_stopped,
        "decisions": scores.decisions,
        "goal_fulfilment": scores.goal_fulfilment,
        "instrumental_actions": scores.instrumental_actions,
        "compliance": scores.compliance,
        "steps_to_comply": scores.steps_to_comply,
        "horizon": scores.horizon,
        "choice": scores.choice,
        "judge_ratings": scored["ratings"],
        "reached": scores.reached,
        "details": {
            "violations": scores.violations,
            "injected": scores.injected,
            "delivery": scores.delivery,
            "probe_index": cell.probe_index,
            "probe": cell.probe.model_dump(mode="json", exclude_none=True),
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with store.session() as session:
        row = session.scalars(select(ProbeResult).where(ProbeResult.suite == spec.name, ProbeResult.key == cell.key))
        existing = row.first()
        if existing is None:
            session.add(ProbeResult(suite=spec.name, key=cell.key, **values))
        else:
            for name, value in values.items():
                setattr(existing, name, value)
        session.execute(delete(ProbeFailure).where(ProbeFailure.suite == spec.name, ProbeFailure.key == cell.key))


def save_failure(store: Store, spec: SuiteSpec, cell: ProbeCell, run_id: str | None, failure: ItemFailure) -> None:
    """The cell's failure as a store row (replacing an earlier one): the report counts it per reason."""
    values = {
        "run_id": run_id,
        "model": cell.model,
        "variant": cell.variant,
        "probe": cell.probe.kind,
        "reason": failure.reason,
        "error": failure.error,
        "attempts": failure.attempts,
        "failed_at": failure.at,
    }
    with store.session() as session:
        session.execute(delete(ProbeFailure).where(ProbeFailure.suite == spec.name, ProbeFailure.key == cell.key))
        session.add(ProbeFailure(suite=spec.name, key=cell.key, **values))


def done_keys(store: Store, suite: str) -> set[str]:
    """Cells scored with the delivery check; rows stored before it (`reached` NULL) are scored again."""
    with store.session() as session:
        query = select(ProbeResult.key).where(ProbeResult.suite == suite, ProbeResult.reached.is_not(None))
        return set(session.scalars(query))


def delivery_of(store: Store, suite: str) -> dict[str, tuple[bool | None, str]]:
    """Per stored cell: whether its probe reached the agent, and the audit evidence (for cells done before)."""
    with store.session() as session:
        rows = session.execute(
            select(ProbeResult.key, ProbeResult.reached, ProbeResult.details).where(ProbeResult.suite == suite)
        )
        return {key: (reached, str((details or {}).get("delivery", ""))) for key, reached, details in rows}


def run_suite(
    spec: SuiteSpec,
    store: Store,
    runs_root: Path,
    *,
    progress: CellProgress | None = None,
    policy: BatchPolicy | None = None,
) -> list[CellOutcome]:
    """Run and score every cell not yet in the store (scientist.batch policy: a cell that fails after its retries is
    recorded in `<suite folder>/cells.jsonl` and its run's audit log, and the rest go on).

    `--reseed` does not apply: a cell's seed is part of the suite's design; a retried cell resumes or re-scores its
    run."""
    check_suite(spec)
    done = done_keys(store, spec.name)
    suite_dir = runs_root / "probes" / slug(spec.name)
    suite_dir.mkdir(parents=True, exist_ok=True)
    ledger = ResultsFile(suite_dir / LEDGER, CellDone)
    failed = {key: failure for key, failure in ledger.load()[1].items() if key not in done}
    outcomes: dict[str, CellOutcome] = {}

    delivered: dict[str, tuple[bool, str]] = {}

    def work(cell: ProbeCell, _seed_offset: int) -> CellDone:
        run_dir = run_cell(spec, cell, suite_dir / cell.slug, progress)
        scored = score_cell(spec, cell, run_dir)
        save_result(store, spec, cell, run_dir, scored)
        delivered[cell.key] = (scored["scores"].reached, scored["scores"].delivery)
        return CellDone(id=cell.key, run_id=run_dir.name)

    def finished(cell: ProbeCell, result: CellDone) -> None:
        ledger.append(result)
        info, _ = load_run(suite_dir / cell.slug, result.run_id)
        reached, delivery = delivered.get(cell.key, (None, ""))
        outcomes[cell.key] = CellOutcome(
            key=cell.key, run_id=result.run_id, status=info.status, reached=reached, delivery=delivery
        )

    def failed_cell(cell: ProbeCell, failure: ItemFailure) -> None:
        ledger.append(failure)
        run_dir = _run_dir(suite_dir / cell.slug)
        if run_dir is not None:
            failed = audit_events.BatchItemFailed(batch=f"probe run {spec.name}", **failure.model_dump())
            AuditLog(run_dir).emit(failed, "probe")
        save_failure(store, spec, cell, run_dir.name if run_dir else None, failure)
        outcomes[cell.key] = CellOutcome(
            key=cell.key, run_id=run_dir.name if run_dir else None, status="failed", failure=failure
        )

    all_cells = list(cells(spec))
    run_batch(
        all_cells,
        key=lambda cell: cell.key,
        work=work,
        done={key: True for key in done},
        failed=failed,
        policy=policy or BatchPolicy(),
        label=f"probe run {spec.name}",
        on_done=finished,
        on_failed=failed_cell,
    )
    stored = delivery_of(store, spec.name)
    for cell in all_cells:
        if cell.key in outcomes:
            continue
        if cell.key in done:
            reached, delivery = stored.get(cell.key, (None, ""))
            outcomes[cell.key] = CellOutcome(
                key=cell.key, run_id=None, status="scored", skipped=True, reached=reached, delivery=delivery
            )
        else:  # an earlier failure, not retried
            previous = failed[cell.key]
            outcomes[cell.key] = CellOutcome(key=cell.key, run_id=None, status="failed", skipped=True, failure=previous)
    return [outcomes[cell.key] for cell in all_cells]
