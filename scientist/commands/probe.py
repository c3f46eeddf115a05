"""`scientist probe run|report`: goal-directedness and corrigibility probes of the research agent itself.

Register in `scientist.cli` with `app.add_typer(probe.app, name="probe")`. Heavy libraries load inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scientist.commands.options import MaxFailuresOption, RetryFailedOption, batch_policy
from scientist.commands.store import DbOption
from scientist.errors import ExitCode

app = typer.Typer(
    help="Probes: perturb real runs (conflicting instruction, shutdown, budget cut, obstacle, OOD task,"
    " temptation) and score the agent from its audit log.",
    no_args_is_help=True,
)

SuiteArgument = Annotated[str, typer.Argument(help="The suite file (SUITE.toml) or the suite's name")]


def _suite_name(suite: str) -> str:
    path = Path(suite)
    if path.suffix == ".toml" or path.is_file():
        from scientist.probing.spec import load_suite

        return load_suite(path).name
    return suite


@app.command("run")
def run(
    suite_file: Annotated[Path, typer.Argument(help="The suite file, e.g. SUITE.toml")],
    db: DbOption = None,
    runs_dir: Annotated[
        Path | None, typer.Option("--runs-dir", help="Root of run folders (default: runs_dir from config)")
    ] = None,
    max_failures: MaxFailuresOption = None,
    retry_failed: RetryFailedOption = False,
) -> None:
    """Run and score every cell (models x variants x probes x samples) not yet in the store.

    The file: name, topic, template, models, variants, samples, seed, judges (one or two judge models),
    [settings] for every run, and [[probes]] tables: kind (conflicting_instruction | shutdown | budget_cut |
    obstacle | ood_task | temptation), node (ideate | novelty | select | experiment | write | review), end_before,
    and the kind's own keys (forbid_param, deadline_calls, tokens, blocker, decoy, template, message).
    """
    from collections import Counter

    from rich.console import Console

    from scientist.config import load_settings
    from scientist.probes.execute import run_suite
    from scientist.probing.spec import ProbeCell, load_suite
    from scientist.store import open_store

    policy = batch_policy(max_failures, retry_failed, reseed=False)
    spec = load_suite(suite_file)
    root = runs_dir or load_settings().runs_dir
    console = Console()
    store = open_store(db)
    try:
        with console.status(f"probe suite {spec.name}") as spinner:

            def progress(cell: ProbeCell, stage: str, message: str) -> None:
                where = f"{cell.model} · {cell.variant} · {cell.probe.label()} · sample {cell.sample}"
                spinner.update(f"[bold cyan]{where}[/] {stage}: {message}")

            outcomes = run_suite(spec, store, root, progress=progress, policy=policy)
    except KeyboardInterrupt:
        Console(stderr=True).print(
            f"[yellow]interrupted[/]: scored cells are kept; `scientist probe run {suite_file}` again continues"
        )
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    finally:
        store.close()
    for outcome in outcomes:
        if outcome.failure is not None:
            earlier = " (earlier; --retry-failed retries it)" if outcome.skipped else ""
            state = f"failed{earlier}: [{outcome.failure.reason}] {outcome.failure.error}"
        else:
            state = "already scored" if outcome.skipped else f"run {outcome.run_id} {outcome.status}"
            if outcome.reached is False:
                state += f"; not reached, not scored ({outcome.delivery})"
        console.print(f"{outcome.key}: {state}", highlight=False, soft_wrap=True, markup=False)
    failures = Counter(outcome.failure.reason for outcome in outcomes if outcome.failure is not None)
    reasons = f", {sum(failures.values())} failed ({', '.join(f'{r} {n}' for r, n in failures.items())})"
    unreached = sum(1 for outcome in outcomes if outcome.reached is False)
    missed = f", {unreached} not reached (the probe never met the agent: not scored)" if unreached else ""
    console.print(
        f"suite {spec.name}: {len(outcomes)} cells{reasons if failures else ''}{missed}; "
        f"`scientist probe report {suite_file}`",
        highlight=False,
        markup=False,
    )


@app.command("report")
def report(
    suite: SuiteArgument,
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the plots (one PNG per score)")] = None,
) -> None:
    """Scores per model x scaffold variant x probe (means over samples), coherence, judge ratings and agreement."""
    from rich.console import Console

    from scientist.probes.execute import slug
    from scientist.probes.report import build_report, render_plots, render_table
    from scientist.store import open_store

    name = _suite_name(suite)
    store = open_store(db)
    try:
        built = build_report(store, name)
    finally:
        store.close()
    console = Console()
    console.print(render_table(built))
    for path in render_plots(built, out or Path(f"{slug(name)}-probes")):
        console.print(f"plot: {path}", soft_wrap=True)
