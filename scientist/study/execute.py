"""Run a study: record it and its cells in the store, then each cell's n runs, resumably.

Resumability without new bookkeeping: run `i` of a cell lives in its own folder
`<runs_dir>/studies/<study>/<cell>/sample-<i>/<run id>/`, so on a second `study run` that folder says everything:
no run yet → start one; a finished run → keep it; an interrupted, killed or failed one → `resume_run` from its
checkpoint. A cell is `completed` once all its runs finished and is then skipped; a cell whose run raised is
`failed` (the error kept in its params) and the study goes on; Ctrl-C marks the cell `interrupted` and stops.

Cells are independent tasks for an executor (scientist.executors): inline by default, threads with `--concurrency`,
or Ray tasks on a cluster. A task gets a `CellJob` (everything picklable, the store as a URL) and may run twice when
its worker dies; that is safe because the run folders say what is done and `link_run` replaces rows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from scientist.batch import BatchStoppedError, FailureLimit
from scientist.config import Settings
from scientist.context import ProgressCallback
from scientist.errors import BudgetExceededError, ConfigError, ScientistError
from scientist.executors import Executor, LocalExecutor
from scientist.judging import Judge, JudgePass, JudgeProgress
from scientist.runs import RUN_FILE, load_run
from scientist.store.engine import Store, export_password, shareable_url, with_local_password
from scientist.store.models import Cell, Run, Study
from scientist.study.budget import StudyBudgetError, StudyStoppedError, check_study_budget
from scientist.study.prereg import Preregistration, preregister
from scientist.study.spec import CellSpec, StudySpec

FINISHED_RUNS = ("completed", "stopped")  # a stopped run ended by its own rule (e.g. no novel idea): no resume
CellProgress = Callable[[CellSpec, int, str, str], None]


class CellOutcome(BaseModel):
    key: str
    status: str
    runs: list[str] = Field(default_factory=list)
    error: str | None = None
    budget_spent: bool = False  # the cell stopped before a run because the study's budget is spent
    stopped: bool = False  # a human rejected raising the study's budget
    hint: str | None = None  # what to do next, for a spent budget or a stop


class CellJob(BaseModel):
    """One cell as a task: what a worker on another machine needs to run it and record it in the same store."""

    spec: StudySpec
    cell: CellSpec
    cell_id: int
    cell_dir: str
    cell_ids: list[int]
    db: str  # the store's URL without its password (the worker adds it from its environment: with_local_password)


class StudyResult(BaseModel):
    name: str
    cells: list[CellOutcome] = Field(default_factory=list)
    judged: JudgePass | None = None

    def count(self, status: str) -> int:
        return sum(cell.status == status for cell in self.cells)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "study"


KEPT_WITH_STUDY = ("judge_resolved", "judge_hash", "preregistration")


def existing_preregistration(store: Store, name: str) -> dict[str, Any] | None:
    with store.session() as session:
        study = session.scalar(select(Study).where(Study.name == name))
        found = (study.spec or {}).get("preregistration") if study is not None else None
    return found if isinstance(found, dict) else None


def record_study(
    store: Store, spec: StudySpec, judge: Judge | None = None, preregistration: Preregistration | None = None
) -> dict[str, int]:
    """Upsert the study and insert its missing cells (existing cells and their status are kept); key → cell id.

    The resolved judge and its settings hash are kept with the study (the report scores with that judge); without
    one (`--no-judge`) the judge recorded before stays."""
    with store.session() as session:
        study = session.scalar(select(Study).where(Study.name == spec.name))
        if study is None:
            study = Study(name=spec.name, spec={}, created_at=_now())
            session.add(study)
        recorded = {key: value for key, value in (study.spec or {}).items() if key in KEPT_WITH_STUDY}
        if judge is not None:
            recorded.update({"judge_resolved": judge.model_dump(mode="json"), "judge_hash": judge.hash})
        if preregistration is not None:
            recorded["preregistration"] = preregistration.model_dump(mode="json")
        study.spec = {**spec.model_dump(mode="json"), **recorded}
        session.flush()
        cells = {cell.key: cell for cell in session.scalars(select(Cell).where(Cell.study_id == study.id))}
        for cell in spec.cells():
            if cell.key not in cells:
                row = Cell(study_id=study.id, key=cell.key, topic=cell.topic, template=cell.template,
                           model=cell.model, variant=cell.variant, n=cell.n, seed=cell.seed,
                           params={"preset": spec.preset(cell.variant)}, status="pending")  # fmt: skip
                session.add(row)
                cells[cell.key] = row
        session.flush()
        return {key: row.id for key, row in cells.items()}


def _set_status(store: Store, cell_id: int, status: str, error: str | None = None) -> None:
    with store.session() as session:
        row = session.get(Cell, cell_id)
        assert row is not None
        row.status = status
        params = dict(row.params)
        if error is None:
            params.pop("error", None)
        else:
            params["error"] = error
        row.params = params


def _check_budget(store: Store, spec: StudySpec, cell_ids: list[int], study_dir: Path) -> None:
    """The study-budget hook (scientist/study/budget.py): pauses on an approval or stops at the study's caps."""
    check_study_budget(store, spec, cell_ids, study_dir)


_BUDGET_HINT = "raise [budget] in the study file and run `scientist study run` again to continue"


def link_run(store: Store, run_dir: Path, cell_id: int, sample: int) -> str:
    """Import the run folder into the study's store and point its row at the cell, in one transaction.

    A row of the same cell and sample under another run id is an earlier attempt's run (a cell retried on another
    node with its own runs folder starts the sample afresh): it is dropped, so a sample is never recorded twice.
    """
    from scientist.store.folder import read_run_folder
    from scientist.store.importer import write_run

    record = read_run_folder(run_dir)
    with store.session() as session:
        superseded = select(Run).where(Run.cell_id == cell_id, Run.sample_index == sample, Run.id != record.info.id)
        for stale in session.scalars(superseded):
            session.delete(stale)
        session.flush()
        run = write_run(session, record)
        run.cell_id, run.sample_index = cell_id, sample
    return record.info.id


def _existing_run(sample_dir: Path) -> Path | None:
    if not sample_dir.is_dir():
        return None
    runs = sorted(path for path in sample_dir.iterdir() if (path / RUN_FILE).is_file())
    return runs[0] if runs else None


def run_sample(
    spec: StudySpec, cell: CellSpec, sample: int, sample_dir: Path, progress: ProgressCallback | None
) -> Path:
    """Start run `sample` of `cell`, or resume the one its folder holds; returns the run folder."""
    from scientist.runner import resume_run, start_run
    from scientist.study.check import run_settings

    existing = _existing_run(sample_dir)
    if existing is None:
        settings = run_settings(spec, cell, sample, sample_dir)
        try:
            _, run_dir = start_run(settings, cell.topic, progress)
        except BaseException:
            created = _existing_run(sample_dir)
            if created is not None:
                raise _RunRaised(created) from None
            raise
        return run_dir
    info, run_dir = load_run(sample_dir, existing.name)
    if info.status in FINISHED_RUNS:
        return run_dir
    try:
        resume_run(sample_dir, info.id, progress)
    except BaseException:
        raise _RunRaised(run_dir) from None
    return run_dir


class _RunRaised(Exception):
    """Carries the folder of a run that raised, so it is still linked to its cell; `__context__` is the cause."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def run_study(
    spec: StudySpec,
    store: Store,
    runs_root: Path,
    *,
    progress: CellProgress | None = None,
    retry_failed: bool = False,
    executor: Executor | None = None,
    judge: bool = True,
    judge_progress: JudgeProgress | None = None,
    amend: bool = False,
    max_failures: FailureLimit | None = None,
) -> StudyResult:
    """Run every unfinished cell; failed cells are recorded and skipped (retried with `retry_failed`); then the
    study's judge reviews every finished run not judged yet (`judge=False`: later, by another `study run`).

    `max_failures` (scientist.batch's `--max-failures`): once more cells of this invocation failed than it
    tolerates, the study stops (BatchStoppedError) with everything recorded: a broken key or server would fail
    every cell alike, and each failed cell may have spent first."""
    from scientist.judging import check_judge
    from scientist.study.check import check_study

    check_study(spec)
    executor = executor or LocalExecutor()
    if not executor.in_process:  # before the executor starts workers, so a local Ray instance inherits it
        export_password(store.url)
    check_store_for(executor, store)
    resolved = study_judge(spec)
    if judge:  # before the first run: a judge that cannot work must not let the study spend first
        check_judge(resolved[1], resolved[0])
    study_dir = runs_root.resolve() / "studies" / slug(spec.name)
    prereg = preregister(existing_preregistration(store, spec.name), spec, resolved[0], study_dir, amend=amend)
    ids = record_study(store, spec, resolved[0], prereg)
    cell_ids = [ids[cell.key] for cell in spec.cells()]
    statuses = _statuses(store, cell_ids)
    outcomes: dict[str, CellOutcome] = {}
    db = shareable_url(store.url)  # never the password in a task's arguments
    jobs: list[CellJob] = []
    for cell in spec.cells():
        cell_id = ids[cell.key]
        status = statuses[cell_id]
        if status == "completed" or (status == "failed" and not retry_failed):
            outcomes[cell.key] = CellOutcome(key=cell.key, status=status, runs=_cell_runs(store, cell_id))
            continue
        cell_dir = str(study_dir / slug(cell.slug))
        jobs.append(CellJob(spec=spec, cell=cell, cell_id=cell_id, cell_dir=cell_dir, cell_ids=cell_ids, db=db))
    task: Callable[[CellJob], CellOutcome] = execute_cell
    if executor.in_process:
        task = partial(execute_cell, store=store, progress=_stoppable(progress, executor))
    budget: CellOutcome | None = None
    failed_now = 0
    too_many = False
    with closing(executor.map_unordered(task, jobs)) as finished:
        for done in finished:
            job = jobs[done.index]
            outcome = done.value if done.value is not None else _lost(store, job, done.error or "no result")
            outcomes[job.cell.key] = outcome
            if progress is not None:
                progress(job.cell, job.cell.n - 1, "cell", f"{outcome.status} ({len(outcomes)}/{len(cell_ids)})")
            if outcome.budget_spent or outcome.stopped:
                budget = outcome
                break  # closing the map stops the other cells: they would find the budget spent too
            failed_now += outcome.status == "failed"
            if max_failures is not None and failed_now > max_failures.tolerated(len(jobs)):
                too_many = True
                break  # running cells are interrupted (resumable), queued ones never start
    if budget is not None and budget.stopped:
        raise StudyStoppedError(budget.error or "the study was stopped", hint=budget.hint)
    if budget is not None:
        raise StudyBudgetError(budget.error or "the study's budget is spent", hint=budget.hint or _BUDGET_HINT)
    if too_many and max_failures is not None:
        raise BatchStoppedError(
            f"{failed_now} of the {len(jobs)} cells this `study run` started failed (--max-failures"
            f" {max_failures.describe()}): the study stopped; every finished, failed and interrupted cell is recorded",
            hint=f"see each cell's error with `scientist study status {spec.name}`, fix the cause, then `scientist"
            " study run` on the same file continues (--retry-failed runs the failed cells again)",
        )
    result = StudyResult(name=spec.name, cells=[outcomes[cell.key] for cell in spec.cells() if cell.key in outcomes])
    if judge:
        result.judged = judge_study(store, cell_ids, resolved[0], resolved[1], judge_progress)
    return result


def study_judge(spec: StudySpec) -> tuple[Judge, Settings]:
    """The study's judge: scientist.toml's [judge] under the study file's, in the environment of its [settings]."""
    from scientist.config import load_settings
    from scientist.judging import judge_settings, resolve_judge

    base = load_settings(**{key: value for key, value in spec.settings.items() if key != "role_models"})
    judge = resolve_judge(base, spec.judge)
    return judge, judge_settings(base, judge)


def judge_study(
    store: Store, cell_ids: list[int], judge: Judge, settings: Settings, progress: JudgeProgress | None = None
) -> JudgePass:
    """Judge every finished run of the cells (resumable: runs this judge already reviewed are kept)."""
    from scientist.judging import judge_runs
    from scientist.store.importer import import_run

    with store.session() as session:
        query = select(Run.run_dir).where(Run.cell_id.in_(cell_ids)).order_by(Run.cell_id, Run.sample_index)
        folders = [Path(folder) for folder in session.scalars(query)]
    # A folder this machine cannot see (a cell run on another node) is left to `scientist judge` where it is.
    here = [folder for folder in folders if (folder / RUN_FILE).is_file()]
    return judge_runs(here, settings, judge, record=lambda run_dir: import_run(store, run_dir), progress=progress)


def check_store_for(executor: Executor, store: Store) -> None:
    """Cells on other machines must reach the store: a SQLite file is one machine's (and locks badly on NFS)."""
    spans = getattr(executor, "spans_machines", None)
    if store.url.get_backend_name() == "sqlite" and spans is not None and spans():
        raise ConfigError(
            f"the {executor.name} executor runs cells on several machines, but the store is a SQLite file"
            f" ({store.where}) that only this machine can write safely",
            hint="use a PostgreSQL store the nodes can reach: --db postgresql://user:password@host:5432/dbname"
            " (see docs/ray.md)",
        )


def execute_cell(job: CellJob, store: Store | None = None, progress: CellProgress | None = None) -> CellOutcome:
    """Run one cell (the task an executor runs): resumes its runs, records them, never raises for a spent budget."""
    from scientist.store import open_store

    own = store is None
    active = open_store(with_local_password(job.db)) if store is None else store
    try:
        return _run_cell(job.spec, job.cell, job.cell_id, Path(job.cell_dir), active, job.cell_ids, progress)
    except StudyBudgetError as err:
        return CellOutcome(key=job.cell.key, status="pending", runs=_cell_runs(active, job.cell_id),
                           error=err.message, hint=err.hint, budget_spent=True)  # fmt: skip
    except StudyStoppedError as err:
        return CellOutcome(key=job.cell.key, status="stopped", runs=_cell_runs(active, job.cell_id),
                           error=err.message, hint=err.hint, stopped=True)  # fmt: skip
    finally:
        if own:
            active.close()


def _stoppable(progress: CellProgress | None, executor: Executor) -> CellProgress:
    """The caller's progress hook, raising KeyboardInterrupt in a cell's thread once the executor is stopping."""

    def report(cell: CellSpec, sample: int, stage: str, message: str) -> None:
        if executor.stopping.is_set():
            raise KeyboardInterrupt
        if progress is not None:
            progress(cell, sample, stage, message)

    return report


def _lost(store: Store, job: CellJob, error: str) -> CellOutcome:
    """A task that returned nothing (its worker kept dying, or it raised outside the run): the cell is failed."""
    message = f"executor: {error}"
    _set_status(store, job.cell_id, "failed", message)
    return CellOutcome(key=job.cell.key, status="failed", runs=_cell_runs(store, job.cell_id), error=message)


def _run_cell(
    spec: StudySpec,
    cell: CellSpec,
    cell_id: int,
    cell_dir: Path,
    store: Store,
    cell_ids: list[int],
    progress: CellProgress | None,
) -> CellOutcome:
    _set_status(store, cell_id, "running")
    runs: list[str] = []
    errors: list[str] = []  # one line per failed run; the cell is `failed` once all its samples were tried
    waiting: list[str] = []  # runs paused on their own approval (a gate, a flagged action, the run's budget)
    for sample in range(cell.n):
        sample_dir = cell_dir / f"sample-{sample}"
        finished = _existing_run(sample_dir)
        if finished is None or load_run(sample_dir, finished.name)[0].status not in FINISHED_RUNS:
            try:
                _check_budget(store, spec, cell_ids, cell_dir.parent)
            except BudgetExceededError:  # paused on a study-budget approval (StudyBudgetError)
                _set_status(store, cell_id, "pending")
                raise
            except ScientistError:  # a raise was rejected (budget.StudyStoppedError)
                _set_status(store, cell_id, "stopped")
                raise
        report = None if progress is None else _sample_progress(progress, cell, sample)
        try:
            run_dir = run_sample(spec, cell, sample, sample_dir, report)
        except _RunRaised as raised:
            cause = raised.__context__
            if isinstance(cause, KeyboardInterrupt):
                # Ctrl-C wins over anything the linking of a half-written run folder could raise (that error would
                # otherwise reach the executor as the cell's failure and the study would run on to exit 0); the
                # next `study run` resumes the run and links it then.
                with contextlib.suppress(Exception):
                    runs.append(link_run(store, raised.run_dir, cell_id, sample))
                _set_status(store, cell_id, "interrupted")
                raise cause from None
            runs.append(link_run(store, raised.run_dir, cell_id, sample))
            if _waits_for_a_human(cause):
                waiting.append(f"run {sample}: {cause}".splitlines()[0])
                continue  # its approval is listed by `scientist approvals list`; the next `study run` resumes it
            errors.append(f"run {sample}: {type(cause).__name__}: {cause}".splitlines()[0])
            continue  # the cell's other samples still run: dropping them would bias its best-of-n pool
        except KeyboardInterrupt:
            _set_status(store, cell_id, "interrupted")
            raise
        except Exception as err:  # raised before the run folder existed (e.g. a sandbox that cannot start)
            errors.append(f"run {sample}: {type(err).__name__}: {err}".splitlines()[0])
            continue
        runs.append(link_run(store, run_dir, cell_id, sample))
    if waiting:  # before `failed`: a failed cell is skipped by the next `study run`, a waiting one is resumed
        error = "; ".join(waiting + errors)
        _set_status(store, cell_id, "waiting", error)
        return CellOutcome(key=cell.key, status="waiting", runs=runs, error=error, hint=_WAITING_HINT)
    if errors:
        error = "; ".join(errors)
        _set_status(store, cell_id, "failed", error)
        return CellOutcome(key=cell.key, status="failed", runs=runs, error=error)
    _set_status(store, cell_id, "completed")
    return CellOutcome(key=cell.key, status="completed", runs=runs)


_WAITING_HINT = (
    "decide each run's approval (`scientist approvals list`, then `scientist approve ID` or `scientist reject ID"
    " --reason ...`); `scientist study run` on the same file again resumes those runs"
)


def _waits_for_a_human(cause: BaseException | None) -> bool:
    """A run paused on its own approval (not the study's budget, which stops the whole study instead)."""
    from scientist.approvals.errors import ApprovalPendingError

    if isinstance(cause, StudyBudgetError):
        return False
    return isinstance(cause, ApprovalPendingError | BudgetExceededError)


def _sample_progress(progress: CellProgress, cell: CellSpec, sample: int) -> ProgressCallback:
    def report(stage: str, message: str) -> None:
        progress(cell, sample, stage, message)

    return report


def _statuses(store: Store, cell_ids: list[int]) -> dict[int, str]:
    with store.session() as session:
        return {cell_id: status for cell_id, status in session.execute(
            select(Cell.id, Cell.status).where(Cell.id.in_(cell_ids)))}  # fmt: skip


def _cell_runs(store: Store, cell_id: int) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(Run.id).where(Run.cell_id == cell_id).order_by(Run.sample_index)))
