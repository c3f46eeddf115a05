"""Write run folders into the store. Idempotent: a run's row is replaced with what its folder holds now."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlalchemy.orm import Session

from scientist.batch import BatchPolicy, BatchSummary, ItemFailure, run_batch
from scientist.errors import ScientistError
from scientist.runs import RUN_FILE
from scientist.store.engine import Store
from scientist.store.folder import RunRecord, read_run_folder
from scientist.store.models import Candidate, Experiment, Judgement, MonitorFlag, Review, Run, Score

CHILDREN = (Candidate, Review, Score, Experiment, MonitorFlag, Judgement)


class ImportProblem(BaseModel):
    path: str
    error: str
    reason: str = "error"


class ImportReport(BaseModel):
    """What `import_runs` did: runs written (new or updated) and folders it could not read."""

    imported: list[str] = Field(default_factory=list)
    failed: list[ImportProblem] = Field(default_factory=list)
    summary: BatchSummary | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_run(session: Session, record: RunRecord) -> Run:
    """Insert or replace one run and everything under it (children are rewritten, so a re-import never duplicates)."""
    info = record.info
    run = session.get(Run, info.id)
    if run is None:
        run = Run(id=info.id)
        session.add(run)
    else:
        for table in CHILDREN:
            session.execute(delete(table).where(table.run_id == info.id))
    run.topic, run.template, run.model = info.topic, info.template, info.model
    run.status, run.status_detail = info.status, info.status_detail
    run.created_at, run.updated_at, run.imported_at = info.created, info.updated, _now()
    for name in (
        "agent_model", "review_model",
        "variant", "run_dir", "seed", "temperature", "num_ideas", "llm_mode", "sandbox", "scaffold", "calls",
        "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "paper_path", "review_path",
        "audit_records", "audit_head",
    ):  # fmt: skip
        setattr(run, name, getattr(record, name))
    session.flush()
    session.add_all(Candidate(run_id=info.id, **c.model_dump()) for c in record.candidates)
    session.add_all(Review(run_id=info.id, **r.model_dump()) for r in record.reviews)
    session.add_all(Score(run_id=info.id, **s.model_dump()) for s in _unique_scores(record))
    session.add_all(Experiment(run_id=info.id, **e.model_dump()) for e in record.experiments)
    session.add_all(MonitorFlag(run_id=info.id, **f.model_dump()) for f in record.flags)
    session.add_all(Judgement(run_id=info.id, **j.model_dump()) for j in record.judgements)
    return run


def _unique_scores(record: RunRecord) -> list:  # type: ignore[type-arg]
    seen: dict[str, object] = {}
    for score in record.scores:
        seen.setdefault(score.metric, score)
    return list(seen.values())


def import_run(store: Store, run_dir: Path) -> RunRecord:
    record = read_run_folder(run_dir)
    with store.session() as session:
        write_run(session, record)
    return record


def run_folders(runs_dir: Path) -> list[Path]:
    """Run folders under `runs_dir`: itself if it is one, else its sub-folders (hidden ones skipped)."""
    if (runs_dir / RUN_FILE).exists():
        return [runs_dir]
    return sorted(path for path in runs_dir.iterdir() if path.is_dir() and not path.name.startswith("."))


def import_runs(store: Store, runs_dir: Path, policy: BatchPolicy | None = None) -> ImportReport:
    """Import every run folder; a folder that cannot be read is reported and the rest still imported.

    The scientist.batch policy: `policy.max_failures` stops early (BatchStoppedError, after recording); a database
    error is not a folder's failure and stops the import at once."""
    if not runs_dir.is_dir():
        raise ScientistError(f"{runs_dir} is not a folder", hint="pass the folder holding run folders, e.g. runs/")
    report = ImportReport()

    def failed(folder: Path, failure: ItemFailure) -> None:
        error = f"{failure.error} ({failure.hint})" if failure.hint else failure.error
        if failure.reason == "error":  # not one of ours: say what kind of error
            error = f"{failure.error_type}: {error}"
        report.failed.append(ImportProblem(path=str(folder), error=error, reason=failure.reason))

    report.summary = run_batch(
        run_folders(runs_dir),
        key=lambda folder: folder.name,
        work=lambda folder, _seed: import_run(store, folder).info,
        done={},
        failed={},
        policy=policy or BatchPolicy(),
        label="store import",
        on_done=lambda folder, info: report.imported.append(info.id),
        on_failed=failed,
        item_errors=(ScientistError, OSError, ValueError),
    )
    return report


def sync_run(run_dir: Path, db: str | None = None) -> str | None:
    """Record a run in the store from the runner; never raises (a store problem must not lose the run).

    Returns the problem as one line (also printed as a warning), or None when the row was written.
    """
    try:
        from scientist.store.engine import open_store

        store = open_store(db)
        try:
            import_run(store, run_dir)
        finally:
            store.close()
    except Exception as err:  # the run's own files stay the record; the store can be re-synced by import
        problem = f"{type(err).__name__}: {err}".splitlines()[0]
        sys.stderr.write(
            f"warning: could not record run {run_dir.name} in the run store ({problem}); the run folder is intact,"
            f" `scientist store import {run_dir.parent}` adds it later\n"
        )
        return problem
    return None
