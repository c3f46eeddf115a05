"""`scientist leaderboard`: stored runs grouped by model, variant or template, as a table or a static HTML page.

Register in `scientist.cli` with `app.add_typer(leaderboard.app)` (no name: adds the top-level command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scientist.commands.store import DbOption
from scientist.display import safe

app = typer.Typer()


@app.command()
def leaderboard(
    by: Annotated[str, typer.Option("--by", help="Group runs by: model | variant | template")] = "model",
    metric: Annotated[
        str, typer.Option("--metric", help="overall (default), another review score, or e.g. variant.true_return")
    ] = "overall",
    db: DbOption = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a static page here, e.g. board.html")] = None,
    score: Annotated[
        str, typer.Option("--score", help="judge (the configured judge's verdicts) or self (each run's own review)")
    ] = "judge",
) -> None:
    """Mean score with a 95 % CI, n, cost and monitor flags per group (import runs first: `scientist store import`).

    Scores are the configured judge's (`scientist judge runs/` first); while no stored run has one of its verdicts
    the board says so and shows the runs' own reviews (self-grading), labelled as such."""
    from rich.console import Console
    from rich.table import Table

    from scientist.errors import ConfigError
    from scientist.leaderboard.board import SCORE_KINDS, build, scored_by
    from scientist.probes.report import all_reports
    from scientist.store import open_store

    if score not in SCORE_KINDS:
        raise ConfigError(f"unknown score kind --score {score!r}", hint="use judge or self")
    console = Console()
    store = open_store(db)
    try:
        judge_hash, note = scored_by(store, score)
        if note is not None:
            console.print(f"[yellow]{safe(note)}[/]", soft_wrap=True)
        board = build(store, by=by, metric=metric, judge_hash=judge_hash).model_copy(update={"note": note})
        probes = all_reports(store) if html is not None else []
    finally:
        store.close()
    kind = "judge" if board.score == "judge" else "self: each run's own review"
    table = Table(title=f"leaderboard: {metric} ({kind}) by {by}")
    for name in (by, f"mean {metric}", "95% CI", "n", "cost (USD)", "tokens", "monitor flags"):
        table.add_column(name, overflow="fold")  # never cut a model name or a flag short
    for e in board.entries:
        ci = f"[{e.ci_low:.3f}, {e.ci_high:.3f}]" if e.ci_low is not None and e.ci_high is not None else "-"
        flags = f"[red]{e.flagged_runs} run(s): {', '.join(e.flags)}[/]" if e.flagged_runs else ""
        if e.notes:  # lower-severity events (e.g. a number the writer removed): shown, not counted as flags
            flags += f"{' ' if flags else ''}[yellow]notes: {', '.join(e.notes)}[/]"
        table.add_row(safe(e.key), f"{e.mean:.3f}", ci, str(e.n), f"{e.cost_usd:.4f}", f"{e.tokens:,}", flags)
    console.print(table)
    if not board.entries:
        console.print(f"no stored run has {metric!r}; import runs with `scientist store import RUNS_DIR`")
    if html is not None:
        from scientist.leaderboard.html import render

        console.print(f"page: {render(board, html, where=store.where, probes=probes)}", soft_wrap=True)
