"""`scientist store import RUNS_DIR` and `scientist store info`: fill and inspect the run store.

Register in `scientist.cli` with `app.add_typer(store.app, name="store")`. sqlalchemy/alembic load inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scientist.commands.options import MaxFailuresOption, batch_policy
from scientist.errors import ExitCode

app = typer.Typer(help="The run store (SQLite by default, PostgreSQL with --db): import runs, inspect it.",
                  no_args_is_help=True)  # fmt: skip

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL: postgresql://user:pass@host/db, sqlite:///file or a file path "
                 "(default: $SCIENTIST_DB, else ~/.local/share/scientist/store.sqlite)"),
]  # fmt: skip


@app.command("import")
def import_(
    runs_dir: Annotated[Path, typer.Argument(help="A folder of run folders (or one run folder)")],
    db: DbOption = None,
    max_failures: MaxFailuresOption = None,
) -> None:
    """Import run folders; re-importing updates rows, never duplicates. Unreadable folders are reported, not fatal."""
    from collections import Counter

    from rich.console import Console
    from rich.markup import escape

    from scientist.store import import_runs, open_store

    console, err_console = Console(), Console(stderr=True)
    policy = batch_policy(max_failures, retry_failed=False, reseed=False).model_copy(update={"resumable": False})
    store = open_store(db)
    try:
        report = import_runs(store, runs_dir, policy)
    finally:
        store.close()
    for problem in report.failed:
        err_console.print(
            f"[yellow]skipped[/] {escape(f'{problem.path}: [{problem.reason}] {problem.error}')}",
            highlight=False,
            soft_wrap=True,
        )
    reasons = ", ".join(f"{reason} {count}" for reason, count in Counter(p.reason for p in report.failed).items())
    console.print(
        f"imported {len(report.imported)} run(s) into {store.where}; {len(report.failed)} skipped"
        + (f" ({reasons})" if reasons else ""),
        highlight=False,
        soft_wrap=True,
    )
    if report.failed and not report.imported:
        raise typer.Exit(ExitCode.FAILED)


@app.command("info")
def info(db: DbOption = None) -> None:
    """Where the store is, its schema revision, and how many rows each table holds."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import func, select

    from scientist.store import open_store
    from scientist.store.engine import current_revision
    from scientist.store.models import Base

    store = open_store(db)
    table = Table("table", "rows")
    with store.session() as session:
        for name, model in sorted(Base.metadata.tables.items()):
            table.add_row(name, str(session.scalar(select(func.count()).select_from(model))))
    console = Console()
    console.print(f"store: {store.where}   schema revision: {current_revision(store.engine)}", soft_wrap=True)
    console.print(table)
    store.close()
