"""`scientist write RUN`: write a finished run's paper again (e.g. after installing LaTeX, or with feedback).

Registered in `scientist.cli` with `app.add_typer(write.app)` (no name: a top-level command).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scientist.commands.options import MaxTokensOption, RepairRetriesOption
from scientist.display import safe

app = typer.Typer()
console = Console()


@app.command()
def write(
    run_id: Annotated[str, typer.Argument(help="Run id or run folder")],
    feedback: Annotated[
        str | None, typer.Option("--feedback", help="Operator feedback every section prompt must address")
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")] = None,
    repair_retries: RepairRetriesOption = None,
    max_tokens: MaxTokensOption = None,
) -> None:
    """Re-run only the write stage of a run whose experiments are finished; `scientist resume RUN` then reviews.

    The run keeps its recorded model and settings, except --repair-retries and --max-tokens (which the
    structured-output hints name) and the current config's `[models."..."]` entries, as for `scientist resume`."""
    from scientist.config import load_settings
    from scientist.rewrite import rewrite_paper

    settings = load_settings(runs_dir=runs_dir)
    profiles = {name: entry.model_dump(exclude_none=True) for name, entry in settings.models.items()}
    overrides = {"repair_retries": repair_retries, "max_tokens": max_tokens,
                 "models": {name: entry for name, entry in profiles.items() if entry} or None}  # fmt: skip
    with console.status("[bold cyan]write[/] loading the run") as status:
        info, run_dir, paper = rewrite_paper(
            settings.runs_dir, run_id, feedback, progress=lambda s, m: status.update(f"[cyan]{s}[/] {m}"), **overrides
        )
    console.print(f"[green]paper written[/] for run {info.id}: {safe(paper['title'])}", highlight=False)
    for key in ("pdf", "tex", "md", "html", "bib"):
        if paper.get(key):
            console.print(f"{key}: {(run_dir / paper[key]).resolve()}", soft_wrap=True)
    notice = paper["latex"]["notice"]
    if notice:
        console.print(f"[yellow]{safe(notice)}[/]", highlight=False, soft_wrap=True)
    if paper["removed_citations"]:
        keys = ", ".join(safe(item["key"]) for item in paper["removed_citations"])  # the model's cite keys
        console.print(f"[yellow]removed citations of papers not in the index:[/] {keys}", highlight=False)
    console.print(f"review it with `scientist resume {info.id}` (or `scientist review {run_dir / paper['md']}`)",
                  highlight=False, soft_wrap=True)
