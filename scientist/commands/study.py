"""`scientist study run|status|report`: a grid of runs over scaffold variants, resumable, and its statistics.

Register in `scientist.cli` with `app.add_typer(study.app, name="study")`. Heavy libraries load inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scientist.approvals.errors import ApprovalPendingError
from scientist.commands.options import MaxFailuresOption
from scientist.commands.store import DbOption
from scientist.display import safe
from scientist.errors import ExitCode

app = typer.Typer(help="Studies: topics x templates x models x scaffold variants x n x seeds, and their report.",
                  no_args_is_help=True)  # fmt: skip

StudyArgument = Annotated[str, typer.Argument(help="The study file (STUDY.toml) or the study's name")]


def _study_name(study: str) -> str:
    path = Path(study)
    if path.suffix == ".toml" or path.is_file():
        from scientist.study.spec import load_study

        return load_study(path).name
    return study


@app.command("run")
def run(
    study_file: Annotated[Path, typer.Argument(help="The study file, e.g. STUDY.toml")],
    db: DbOption = None,
    runs_dir: Annotated[
        Path | None, typer.Option("--runs-dir", help="Root of run folders (default: runs_dir from config)")
    ] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Resume cells that failed before")] = False,
    executor: Annotated[
        str, typer.Option("--executor", help="Where cells run: local (this machine) or ray (a Ray cluster)")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="With --executor ray: auto (this machine's cluster) or ray://head:10001;"
                     " default: a new local Ray instance"),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Cells at a time (local default 1; ray default: as the cluster's"
                     " CPUs allow)"),
    ] = None,
    no_judge: Annotated[
        bool, typer.Option("--no-judge", help="Skip the judge pass (a later `study run` judges what is left)")
    ] = False,
    amend: Annotated[
        bool, typer.Option("--amend", help="Record a change to the pre-registered study as an amendment and go on")
    ] = False,
    max_failures: MaxFailuresOption = None,
) -> None:
    """Run every unfinished cell; re-running continues where it stopped (finished cells are skipped).

    The file: name, topics, templates, models, variants (plain | full | novelty-off | reflect-R, or your own
    [presets.NAME] of settings), n (runs per cell), seeds, [budget] usd/tokens/wall_s for the whole study (at a
    cap the study pauses on a `scientist approvals` question: raise it or stop), [settings] for every run, and
    [judge] (model, ensemble, reflections, fewshot, form_version, temperature, seed): the fixed judge that reviews
    every finished run's paper after the cells (checked before the first run; presets may not change it).
    Before the first run the study is pre-registered (file, judge, code version, [hypotheses.NAME] variant,
    baseline, direction); a later run with anything changed stops unless --amend records an amendment.
    With --executor ray, each cell is a Ray task (retried when its worker dies); use a PostgreSQL --db that every
    node reaches (docs/ray.md).
    """
    from rich.console import Console

    from scientist.batch import FailureLimit
    from scientist.config import load_settings
    from scientist.executors import get_executor, settings_env
    from scientist.store import open_store
    from scientist.study.budget import StudyStoppedError
    from scientist.study.execute import run_study
    from scientist.study.spec import CellSpec, load_study

    spec = load_study(study_file)
    limit = FailureLimit.parse(max_failures)  # a bad value is refused before any cell runs
    root = runs_dir or load_settings().runs_dir
    console = Console()
    runner = get_executor(executor, concurrency=concurrency, address=ray_address, env=settings_env())
    store = open_store(db)
    try:
        with console.status(f"study {spec.name} on {runner.describe()}") as spinner:

            def progress(cell: CellSpec, sample: int, stage: str, message: str) -> None:
                where = f"{cell.variant} n={cell.n} seed={cell.seed} run {sample + 1}/{cell.n}"
                spinner.update(f"[bold cyan]{where}[/] {stage}: {message}")

            def judging(run_dir: Path, what: str) -> None:
                spinner.update(f"[bold cyan]judge[/] {what} {run_dir.name}")

            result = run_study(spec, store, root, progress=progress, retry_failed=retry_failed, executor=runner,
                               judge=not no_judge, judge_progress=judging, amend=amend,
                               max_failures=limit)  # fmt: skip
    except StudyStoppedError as err:  # a human rejected raising its budget: a deliberate end, reported
        console.print(f"[yellow]stopped[/] {err.message}; {err.hint}", highlight=False, soft_wrap=True)
        raise typer.Exit(ExitCode.OK) from None
    except KeyboardInterrupt:
        Console(stderr=True).print(
            f"[yellow]interrupted[/]: finished runs are kept and the current run is checkpointed;"
            f" `scientist study run {study_file}` again continues the study"
        )
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        store.close()
        runner.close()
    for cell in result.cells:
        colour = {"completed": "green", "failed": "red"}.get(cell.status, "yellow")
        console.print(f"[{colour}]{cell.status}[/] {safe(cell.key)}  {len(cell.runs)} run(s)"
                      + (f"  {safe(cell.error)}" if cell.error else ""), highlight=False, soft_wrap=True)  # fmt: skip
    console.print(f"study {spec.name}: {result.count('completed')} of {len(result.cells)} cells completed,"
                  f" {result.count('failed')} failed; `scientist study report {study_file}`")  # fmt: skip
    if result.judged is not None:
        done = result.judged
        console.print(f"{done.judge.describe()}: {len(done.judged)} run(s) judged now, {len(done.kept)} before,"
                      f" {len(done.failed)} without a valid form, {len(done.no_paper)} without a paper;"
                      f" judge spend ${done.cost_usd:.4f}", highlight=False, soft_wrap=True)  # fmt: skip
    if result.count("waiting"):  # runs paused on approvals: a human decides, then this command continues them
        console.print(f"[yellow]{result.count('waiting')} cell(s) wait for approvals[/]: decide them"
                      f" (`scientist approvals list`), then `scientist study run {study_file}` again resumes them",
                      highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(ApprovalPendingError.exit_code)


@app.command("status")
def status(study: StudyArgument, db: DbOption = None) -> None:
    """Each cell's status, runs, best score and tokens."""
    from rich.console import Console
    from rich.table import Table

    from scientist.store import open_store
    from scientist.study.report import stored_runs

    store = open_store(db)
    try:
        cells, runs = stored_runs(store, _study_name(study))
    finally:
        store.close()
    table = Table(title=f"study {_study_name(study)}")
    for column in ("variant", "model", "template", "n", "seed", "status", "runs", "best overall", "tokens", "error"):
        table.add_column(column, overflow="fold")
    for cell in cells:
        mine = [run for run in runs if run.cell_key == cell.key]
        scores = [run.score for run in mine if run.score is not None]
        table.add_row(
            safe(cell.variant), safe(cell.model), safe(cell.template), str(cell.n), str(cell.seed), safe(cell.status),
            f"{sum(run.status in ('completed', 'stopped') for run in mine)}/{cell.n}",
            f"{max(scores):g}" if scores else "-", f"{sum(run.total_tokens for run in mine):,}",
            safe(cell.params.get("error", "")),  # a run's error can quote model or sandbox text
        )  # fmt: skip
    Console().print(table)


@app.command("report")
def report(
    study: StudyArgument,
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for report.md and its plots")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write one self-contained page here")] = None,
    metric: Annotated[str, typer.Option("--metric", help="Quality: a review score field")] = "overall",
    score: Annotated[
        str, typer.Option("--score", help="judge (the study's fixed judge) or self (each run's own review)")
    ] = "judge",
    failed_score: Annotated[
        float | None,
        typer.Option("--failed-score", help="What a failed or unscored run counts as (default: the form's minimum)"),
    ] = None,
) -> None:
    """Best-of-k curves with CIs (failures counted), success rates, curves over successes only, log-k fit,
    compute-matched plain best-of-n, and the self-minus-judge gap per model and variant."""
    from rich.console import Console

    from scientist.store import open_store
    from scientist.study.execute import slug
    from scientist.study.render import write_html, write_markdown
    from scientist.study.report import build_report

    name = _study_name(study)
    store = open_store(db)
    try:
        built = build_report(store, name, metric, score, failed_score)  # type: ignore[arg-type]  # checked there
    finally:
        store.close()
    console = Console()
    path = write_markdown(built, out or Path(f"{slug(name)}-report"))
    console.print(f"report: {path}", soft_wrap=True)
    if html is not None:
        console.print(f"page: {write_html(built, html)}", soft_wrap=True)
