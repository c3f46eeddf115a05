"""`scientist judge RUN|runs/`: the independent judge reviews finished runs' final papers, resumably.

Register in `scientist.cli` with `app.add_typer(judge.app)` (no name: adds the top-level command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scientist.commands.options import MaxFailuresOption, RepairRetriesOption, ReseedOption, RetryFailedOption
from scientist.commands.store import DbOption

app = typer.Typer()


@app.command("judge")
def judge(
    path: Annotated[Path, typer.Argument(help="A run folder, or a folder with run folders anywhere below it")],
    judge_model: Annotated[
        str | None,
        typer.Option("--judge-model", help="The judge model, over the judge table's model in scientist.toml"),
    ] = None,
    db: DbOption = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", min=0, help="Hard USD cap per judged run (default: config)")
    ] = None,
    max_failures: MaxFailuresOption = None,
    retry_failed: RetryFailedOption = False,
    reseed: ReseedOption = False,
    repair_retries: RepairRetriesOption = None,
) -> None:
    """Review each finished run's final paper with the judge settings (the judge table of scientist.toml).

    Verdicts go to the run folder (judge/HASH/) and the store.
    Runs this judge (the same settings hash) already reviewed are kept, so an interrupted pass continues where it
    stopped. The run's own review stays as score kind `self`; the judge's is kind `judge`.
    A paper the judge could not review keeps its failed verdict; --retry-failed asks for those again.
    """
    from rich.console import Console

    from scientist.batch import FailureLimit
    from scientist.config import load_settings
    from scientist.judging import judge_runs, judge_settings, resolve_judge, run_folders_under
    from scientist.store import open_store
    from scientist.store.importer import import_run

    limit = FailureLimit.parse(max_failures)
    base = load_settings(budget_usd=budget_usd, repair_retries=repair_retries)
    resolved = resolve_judge(base, model=judge_model)
    settings = judge_settings(base, resolved)
    folders = run_folders_under(path)
    console = Console()
    console.print(resolved.describe(), highlight=False, soft_wrap=True)
    store = open_store(db)
    try:
        with console.status("judging") as spinner:

            def progress(run_dir: Path, what: str) -> None:
                spinner.update(f"[bold cyan]{what}[/] {run_dir.name}")

            result = judge_runs(folders, settings, resolved, record=lambda run_dir: import_run(store, run_dir),
                                progress=progress, max_failures=limit, retry_failed=retry_failed,
                                reseed=reseed)  # fmt: skip
    finally:
        store.close()
    console.print(
        f"{len(folders)} run(s): {len(result.judged)} judged, {len(result.kept)} already judged, {len(result.failed)}"
        f" without a valid form, {len(result.no_paper)} without a paper, {len(result.run_failed)} failed runs,"
        f" {len(result.unfinished)} unfinished;"
        f" judge spend ${result.cost_usd:.4f}",
        highlight=False,
        soft_wrap=True,
    )
