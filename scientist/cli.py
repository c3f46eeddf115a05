"""The `scientist` command line (typer + rich).

Heavy libraries (litellm, langgraph, llama.cpp) are imported inside commands, never at module import, so
`scientist --help` and the quick commands start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from scientist.approvals.errors import ApprovalPendingError
from scientist.commands.options import MaxTokensOption, RepairRetriesOption, TemperatureOption
from scientist.commands.store import DbOption
from scientist.errors import BudgetExceededError, ExitCode, ScientistError
from scientist.runs import RunFolder

app = typer.Typer(
    help="An automated AI-safety research agent in a measurement and safety harness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
runs_app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)
audit_app = typer.Typer(help="Check run audit logs.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")


def _register_command_groups() -> None:
    """Command groups that live in their own modules (each imports its heavy libraries lazily)."""
    from scientist.commands import (
        approvals,
        index,
        judge,
        leaderboard,
        monitors,
        probe,
        review,
        sandbox,
        serve,
        store,
        study,
        templates,
        write,
    )

    app.add_typer(sandbox.app, name="sandbox")
    app.add_typer(templates.app, name="templates")
    app.add_typer(monitors.app, name="monitors")
    app.add_typer(index.app, name="index")
    app.add_typer(review.app)
    app.add_typer(judge.app)
    app.add_typer(store.app, name="store")
    app.add_typer(leaderboard.app)
    app.add_typer(approvals.app, name="approvals")
    app.add_typer(approvals.decisions)
    app.add_typer(serve.app)
    app.add_typer(study.app, name="study")
    app.add_typer(write.app)
    app.add_typer(probe.app, name="probe")


_register_command_groups()


def _print_version(value: bool) -> None:
    if value:
        from scientist import __version__

        typer.echo(f"scientist {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the installed version and exit"),
    ] = None,
) -> None:
    """An automated AI-safety research agent in a measurement and safety harness."""

console = Console()
err_console = Console(stderr=True)

ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="litellm model, e.g. local/smollm2-135m")]
RoleModelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--role-model",
        help="ROLE=MODEL, repeatable: a model for ideation, experiment, writeup, review or judge (default: --model)",
    ),
]
ApiBaseOption = Annotated[
    str | None, typer.Option("--api-base", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
]
RunsDirOption = Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")]
BudgetUsdOption = Annotated[float | None, typer.Option("--budget-usd", help="Hard USD cap for the run")]
BudgetTokensOption = Annotated[int | None, typer.Option("--budget-tokens", help="Hard token cap for the run")]
BudgetWallOption = Annotated[float | None, typer.Option("--budget-wall-s", help="Active wall-time cap, seconds")]
ApproveOption = Annotated[
    str | None, typer.Option("--approve", help="Approval gates: none | ideas | code | all (default from config)")
]


def _settings(**flags: Any) -> Any:
    from scientist.config import load_settings

    return load_settings(**flags)


def _progress_printer(status: Any) -> Any:
    def report(stage: str, message: str) -> None:
        status.update(f"[bold cyan]{stage}[/] {message}")

    return report


def _finish(info: Any, run_dir: Path) -> None:
    if info.status == "stopped":
        console.print(f"[yellow]run {info.id} stopped[/]: {info.status_detail}", highlight=False)
        console.print(f"run folder: [bold]{run_dir.resolve()}[/]", soft_wrap=True)
        return
    console.print(f"[green]run {info.id} completed[/]")
    console.print(f"run folder: [bold]{run_dir.resolve()}[/]", soft_wrap=True)
    paper_path = RunFolder(run_dir).paper_json
    from scientist.records import Paper

    notice = Paper.read(paper_path).latex.notice if paper_path.exists() else None
    if notice:
        console.print(f"[yellow]{notice}[/]", highlight=False, soft_wrap=True)
    from scientist.stages.bestofn import summary_lines
    from scientist.stages.novelty import unchecked_summary

    if unchecked := unchecked_summary(run_dir):
        console.print(f"[yellow]{unchecked}[/]", highlight=False, soft_wrap=True, markup=False)
    for line in summary_lines(run_dir):
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    review_path = RunFolder(run_dir).review
    if review_path.exists():
        from scientist.display import safe
        from scientist.reviews.form import RunReview

        review = RunReview.read(review_path)  # damaged: CorruptRunError naming the file, not a traceback
        if review.form is not None:
            console.print(f"review: overall {review.form.overall}/10, decision {review.form.decision}")
        else:
            console.print(f"[yellow]review failed:[/] {safe(review.error or 'no valid review')}", soft_wrap=True)


@app.command()
def run(
    topic: Annotated[str, typer.Argument(help="Research topic, e.g. 'reward hacking in gridworlds'")],
    template: Annotated[str | None, typer.Option("--template", "-t", help="Experiment template")] = None,
    model: ModelOption = None,
    num_ideas: Annotated[int | None, typer.Option("--num-ideas", "-n", help="Ideas to sample")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed")] = None,
    budget_usd: BudgetUsdOption = None,
    budget_tokens: BudgetTokensOption = None,
    budget_wall_s: BudgetWallOption = None,
    approve: ApproveOption = None,
    runs_dir: RunsDirOption = None,
    sandbox: Annotated[
        str | None, typer.Option("--sandbox", help="Sandbox backend: docker | local | unsafe-subprocess")
    ] = None,
    search: Annotated[str | None, typer.Option("--search", help="Experiment search: linear | tree")] = None,
    breadth: Annotated[int | None, typer.Option("--breadth", help="Tree search: children per expansion")] = None,
    depth: Annotated[int | None, typer.Option("--depth", help="Tree search: maximum depth")] = None,
    edit_mode: Annotated[
        str | None,
        typer.Option(
            "--edit-mode",
            help="What the agent edits: config (config.json) | code (training code; templates with an evaluator). "
            "Default: from the model's profile",
        ),
    ] = None,
    seeds_per_run: Annotated[
        int | None, typer.Option("--seeds-per-run", help="Seeds per experiment run (default: 3 code, 1 config)")
    ] = None,
    role_model: RoleModelOption = None,
    api_base: ApiBaseOption = None,
    temperature: TemperatureOption = None,
    repair_retries: RepairRetriesOption = None,
    max_tokens: MaxTokensOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned calls, tokens and dollars per stage; call nothing")
    ] = False,
) -> None:
    """Run the whole pipeline: ideas, experiments in the sandbox, paper, review."""
    from scientist.config import parse_role_models, role_summary
    from scientist.runner import start_run

    settings = _settings(
        role_models=parse_role_models(role_model),
        api_base=api_base,
        template=template,
        model=model,
        num_ideas=num_ideas,
        seed=seed,
        budget_usd=budget_usd,
        budget_tokens=budget_tokens,
        budget_wall_s=budget_wall_s,
        approve=approve,
        runs_dir=runs_dir,
        sandbox=sandbox,
        search=search,
        tree_breadth=breadth,
        tree_depth=depth,
        temperature=temperature,
        repair_retries=repair_retries,
        max_tokens=max_tokens,
        edit_mode=edit_mode,
        seeds_per_run=seeds_per_run,
    )
    if dry_run:
        _print_plan(settings)
        return
    with console.status("[bold cyan]preflight[/] checking model, template and sandbox") as status:
        info, run_dir = start_run(settings, topic, progress=_progress_printer(status))
    _finish(info, run_dir)
    console.print(role_summary(settings), soft_wrap=True, highlight=False, markup=False)


def _print_plan(settings: Any) -> None:
    """`run --dry-run`: the worst-case calls per stage from each role's profile; no model call, no run folder."""
    from scientist.commands.dryrun import plan
    from scientist.config import role_summary
    from scientist.llm.gateway import check_model, check_pricing, resolve_profile
    from scientist.template import load_template

    load_template(settings.template)
    check_model(settings)
    check_pricing(settings, explicit_cap="budget_usd" in settings.model_fields_set)
    stages = plan(settings, lambda model: resolve_profile(model, settings))
    table = Table("stage", "role", "model", "calls (max)", "tokens (max)", "USD (max)")
    for stage in stages:
        usd = "unknown" if stage.usd is None else f"${stage.usd:.4f}"
        table.add_row(stage.stage, stage.role, stage.model, str(stage.calls), f"{stage.tokens:,}", usd)
    priced = [stage.usd for stage in stages]
    total_usd = "unknown" if None in priced else f"${sum(usd or 0.0 for usd in priced):.4f}"
    table.add_row("total", "", "", str(sum(s.calls for s in stages)), f"{sum(s.tokens for s in stages):,}", total_usd)
    console.print(table)
    console.print(role_summary(settings), soft_wrap=True, highlight=False, markup=False)
    caps = f"budget: USD {settings.budget_usd}, tokens {settings.budget_tokens} (None: no cap)"
    console.print(f"dry run: no model was called and no run folder was made. {caps}", highlight=False)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="Run id or run folder")],
    budget_usd: BudgetUsdOption = None,
    budget_tokens: BudgetTokensOption = None,
    budget_wall_s: BudgetWallOption = None,
    runs_dir: RunsDirOption = None,
    repair_retries: RepairRetriesOption = None,
    max_tokens: MaxTokensOption = None,
) -> None:
    """Continue a run from its last completed step (after a crash, kill, or budget stop).

    The run keeps its recorded settings, except the flags given here (--repair-retries and --max-tokens, which the
    gateway's hints name, change them from here on) and the current config's `[models."..."]` entries (e.g. a
    structured_output fix after a provider refused a request), which are recorded in the audit log."""
    from scientist.runner import resume_run

    settings = _settings(runs_dir=runs_dir)
    profiles = {name: entry.model_dump(exclude_none=True) for name, entry in settings.models.items()}
    with console.status("[bold cyan]resume[/] loading the checkpoint") as status:
        info, run_dir = resume_run(
            settings.runs_dir,
            run_id,
            progress=_progress_printer(status),
            budget_usd=budget_usd,
            budget_tokens=budget_tokens,
            budget_wall_s=budget_wall_s,
            repair_retries=repair_retries,
            max_tokens=max_tokens,
            models={name: entry for name, entry in profiles.items() if entry} or None,
        )
    _finish(info, run_dir)


@runs_app.command("list")
def runs_list(runs_dir: RunsDirOption = None) -> None:
    """One line per run: id, status, template, model, topic."""
    from scientist.runs import list_runs

    settings = _settings(runs_dir=runs_dir)
    table = Table("id", "status", "template", "model", "topic", "updated")
    for info in list_runs(settings.runs_dir):
        table.add_row(info.id, info.status, info.template, info.model, info.topic, info.updated)
    console.print(table)


@runs_app.command("show")
def runs_show(run_id: str, runs_dir: RunsDirOption = None) -> None:
    """A run's status, spend, selected idea, experiment results, paper and review."""
    from scientist.audit.log import AuditLog
    from scientist.display import safe
    from scientist.runs import load_run

    settings = _settings(runs_dir=runs_dir)
    info, run_dir = load_run(settings.runs_dir, run_id)
    console.print(f"[bold]{info.id}[/]  {safe(f'{info.status} {info.status_detail}')}")
    console.print(safe(f"topic: {info.topic}\ntemplate: {info.template}   model: {info.model}"))
    console.print(safe(f"folder: {run_dir.resolve()}"))
    calls = AuditLog(run_dir).find(kind="llm_call")
    tokens = sum(int(record.payload.get("total_tokens", 0)) for record in calls)
    usd = sum(float(record.payload.get("cost_usd") or 0) for record in calls)
    console.print(f"model calls: {len(calls)}   tokens: {tokens:,}   cost: ${usd:.4f}")
    folder = RunFolder(run_dir)
    selected = folder.selected_idea
    if selected.exists():
        console.print(f"idea: {safe(json.loads(selected.read_text(encoding='utf-8'))['title'])}")
    table = Table("run", "ok", "metrics")
    results = sorted(folder.results(), key=lambda p: p.stat().st_mtime)
    from scientist.records import ExperimentResult

    for result in results:
        record = ExperimentResult.read(result)  # damaged: CorruptRunError naming the file, not a traceback
        metrics = ""
        if record.ok:
            from scientist.sandbox.final_info import record_metrics

            metrics = ", ".join(f"{k}={v:.3f}" for k, v in record_metrics(run_dir, record.model_dump()).items())
        table.add_row(safe(record.label), str(record.ok), safe(metrics))
    if table.row_count:
        console.print(table)
    for name in (f"{RunFolder.PAPER_DIR}/paper.tex", f"{RunFolder.PAPER_DIR}/paper.pdf", RunFolder.REVIEW):
        if (run_dir / name).exists():
            console.print(f"{name}: {(run_dir / name).resolve()}")


@audit_app.command("keygen")
def audit_keygen() -> None:
    """Create the audit key that signs every anchor (HMAC-SHA256), so anchors cannot be rewritten by whoever can write
    your data folder but not read the key; signs the anchors already there. Never overwrites an existing key."""
    from scientist.audit.anchor import KEY_FILE_ENV, audit_key, key_path, sign_existing, write_key

    try:
        path = write_key()
    except FileExistsError:
        raise ScientistError(
            f"an audit key already exists at {key_path()}",
            hint=f"keep it (it signs your existing anchors); set {KEY_FILE_ENV} to use a key elsewhere",
        ) from None
    key = audit_key()
    signed = sign_existing(key) if key is not None else 0
    console.print(f"audit key written to {path} (mode 0600); {signed} existing anchor line(s) signed, new ones will be",
                  soft_wrap=True, highlight=False)  # fmt: skip


@audit_app.command("verify")
def audit_verify(run_id: str, runs_dir: RunsDirOption = None, db: DbOption = None) -> None:
    """Check the run's hash-chained audit log; exits 1 at the first broken record.

    Also compares the log with the two copies of its head kept outside the run folder: the anchor file in your
    data folder and the run store's row (when the run was imported or recorded by a study)."""
    from scientist.audit.log import verify
    from scientist.runs import run_dir_of
    from scientist.store.engine import existing_store
    from scientist.store.queries import audit_witness

    settings = _settings(runs_dir=runs_dir)
    run_dir = run_dir_of(settings.runs_dir, run_id)
    witness, unchecked = None, "not in the run store"
    try:
        store = existing_store(db)
    except ScientistError as err:  # the log is still checked; the store's copy is reported as not compared
        store, unchecked = None, f"run store not compared ({err.message})"
    if store is not None:
        try:
            witness = audit_witness(store, run_dir.name)
        finally:
            store.close()
    report = verify(run_dir, witness)
    if report.ok:
        anchor = "matches its anchor outside the run folder" if report.anchored else "not anchored on this machine"
        anchor += " (signed with the audit key)" if report.signed else ""
        stored = ", matches the run store's copy" if report.witnessed else f", {unchecked}"
        console.print(f"[green]OK[/]: {report.records_checked} records, chain intact, {anchor}{stored}",
                      soft_wrap=True, highlight=False)
        return
    from rich.markup import escape

    from scientist.display import clean

    where = f" at line {report.first_bad_line} (record {report.first_bad_seq})" if report.first_bad_line else ""
    def line(text: str) -> str:  # one line, inert: a hostile folder's names may hold newlines, escapes or [markup]
        return escape(clean(text).replace("\n", " ").replace("\t", " "))

    console.print(f"[red]BROKEN[/]{where}: {line(report.problem or '')}", soft_wrap=True, highlight=False)
    for finding in report.findings[1:]:  # every problem found (each hostile blob), not only the first
        console.print(f"[red]also[/]: {line(finding)}", soft_wrap=True, highlight=False)
    raise typer.Exit(ExitCode.FAILED)


@config_app.command("show")
def config_show(
    model: ModelOption = None, runs_dir: RunsDirOption = None, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Print the effective configuration (flags > SCIENTIST_* env > scientist.toml > defaults), secrets masked."""
    settings = _settings(model=model, runs_dir=runs_dir)
    shown = settings.masked()
    if as_json:
        console.print_json(json.dumps(shown))
        return
    table = Table("setting", "value")
    for key, value in shown.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def doctor(model: ModelOption = None, api_base: ApiBaseOption = None) -> None:
    """Check the model runtime, sandbox backends, Docker, LaTeX and disk, and say how to fix each.

    With --model naming a hosted or served model, one tiny live call checks key, reachability and structured output.
    """
    from scientist.commands.doctor import check_index, run_checks
    from scientist.llm.providers import provider_for

    settings = _settings(model=model, api_base=api_base)
    checks = run_checks(settings, call_model=model is not None and provider_for(settings.model).pings)
    checks.append(check_index())
    colour = {"ok": "green", "warn": "yellow", "fail": "red"}
    table = Table("check", "status", "detail", "fix")
    for check in checks:
        table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", check.detail, check.fix)
    console.print(table)
    if any(check.status == "fail" for check in checks):
        raise typer.Exit(ExitCode.FAILED)


def main() -> None:
    """Entry point: user errors become one red line and a non-zero exit code, never a traceback."""
    try:
        app()
    except BudgetExceededError as err:
        err_console.print(f"[yellow]paused:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except ApprovalPendingError as err:
        err_console.print(f"[yellow]waiting:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except ScientistError as err:
        from rich.markup import escape

        err_console.print(f"[red]error:[/] {escape(str(err))}", highlight=False)  # a hint may hold [extras]
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: the run is checkpointed; `scientist resume RUN` continues it")
        sys.exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    main()
