"""`scientist approvals list|show` and the decisions `scientist approve ID` / `scientist reject ID --reason`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from scientist.display import clean, safe
from scientist.errors import ConfigError

app = typer.Typer(help="List and inspect approvals that runs wait for.", no_args_is_help=True)
decisions = typer.Typer()  # `approve` and `reject` are top-level commands
console = Console()

RunsDirOption = Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: cli:<login name>)")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Resume the run right after deciding")]


def _runs_dir(runs_dir: Path | None) -> Path:
    from scientist.config import load_settings

    return Path(load_settings(runs_dir=runs_dir).runs_dir)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@app.command("list")
def approvals_list(
    runs_dir: RunsDirOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include decided approvals")] = False,
) -> None:
    """Pending approvals (all of them with --all): id, run, kind, what is asked."""
    from scientist.approvals.store import all_approvals

    table = Table("id", "status", "kind", "run", "title", "created", "decided by")
    for approval, _ in all_approvals(_runs_dir(runs_dir)):
        if show_all or approval.status == "pending":
            table.add_row(
                *(safe(cell) for cell in (approval.id, approval.status, approval.kind, approval.run_id,
                                          approval.title, approval.created, approval.decided_by or "")),
            )
    if not table.row_count:
        console.print("no pending approvals" if not show_all else "no approvals")
        return
    console.print(table)


def _show_idea(payload: dict[str, Any]) -> None:
    selected = payload.get("selected", {})
    table = Table("field", "selected idea", title=f"idea {selected.get('index', '?')}", show_lines=True)
    for key in ("title", "hypothesis", "experiment_plan", "risks", "interestingness", "feasibility"):
        if key in selected:
            table.add_row(key, safe(selected[key]))
    console.print(table)
    others = [idea for idea in payload.get("ideas", []) if idea.get("index") != selected.get("index")]
    if others:
        console.print("other ideas: " + "; ".join(safe(f"[{i.get('index')}] {i.get('title')}") for i in others))


def _show_code(payload: dict[str, Any]) -> None:
    plan = payload.get("plan", {})
    console.print(Panel(safe(plan.get("rationale", "")), title="agent's rationale"))
    console.print(safe(f"proposed: {plan.get('proposed')}   applied (clamped): {plan.get('applied')}"))
    console.print(Syntax(clean(payload.get("diff") or "(no change)"), "diff", theme="ansi_dark"))


def _show_write(payload: dict[str, Any]) -> None:
    table = Table("run", "ok", "metrics", title="experiment results the paper will report")
    for result in payload.get("results", []):
        metrics = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in
                            result.get("metrics", {}).items())
        table.add_row(safe(result.get("label")), safe(result.get("ok")), safe(metrics))
    console.print(table)


@app.command("show")
def approvals_show(approval_id: str, runs_dir: RunsDirOption = None) -> None:
    """What an approval asks: the idea, the experiment diff, the results, or the budget spent."""
    from scientist.approvals.store import find_approval

    approval, _ = find_approval(_runs_dir(runs_dir), approval_id)
    status = safe(f"[{approval.status}]")
    console.print(f"[bold]approval {approval.id}[/]  {approval.kind}  {status}  run {approval.run_id}")
    console.print(f"asks: {safe(approval.title)}", highlight=False)
    views = {"ideas": _show_idea, "code": _show_code, "write": _show_write}
    view = views.get(approval.kind)
    if view is not None:
        view(approval.payload)
    else:
        console.print_json(clean(json.dumps(approval.payload, default=str)))
    if approval.decision is not None:
        console.print(safe(f"decided: {approval.decision.action} by {approval.decided_by} at {approval.decided_at}"
                      f" {approval.decision.reason}"), highlight=False)
    else:
        console.print(f"decide: `scientist approve {approval.id}` | `scientist reject {approval.id} --reason ...`")


def _parse_edits(edits: list[str]) -> dict[str, str]:
    parsed = {}
    for item in edits:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--edit {item!r} is not KEY=VALUE", hint="e.g. --edit title='A better title'")
        parsed[key.strip()] = value
    return parsed


def _after_decision(run_dir: Path, resume: bool) -> None:
    if not resume:
        if run_dir.parent.name.startswith("sample-"):  # a study's run: the study continues it, or its folder alone
            console.print(f"continue its study with `scientist study run STUDY.toml`, or this run alone with"
                          f" `scientist resume {run_dir}`", highlight=False, soft_wrap=True)  # fmt: skip
        else:
            console.print(f"continue the run with `scientist resume {run_dir.name}`")
        return
    from scientist.runner import resume_run

    with console.status("[bold cyan]resume[/]") as status:
        info, _ = resume_run(run_dir.parent, run_dir.name, progress=lambda s, m: status.update(f"[cyan]{s}[/] {m}"))
    console.print(f"run {info.id}: {info.status} {info.status_detail}", highlight=False)


@decisions.command()
def approve(
    approval_id: str,
    edit: Annotated[list[str] | None, typer.Option("--edit", help="KEY=VALUE: edit the idea text, a config"
                                                   " value, or give the writer feedback='...' (repeatable)")] = None,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", help="Raise the run's USD cap")] = None,
    budget_tokens: Annotated[int | None, typer.Option("--budget-tokens", help="Raise the token cap")] = None,
    budget_wall_s: Annotated[float | None, typer.Option("--budget-wall-s", help="Raise the wall-time cap")] = None,
    by: ByOption = None,
    resume: ResumeOption = False,
    runs_dir: RunsDirOption = None,
) -> None:
    """Approve what a run waits for (optionally with edits, or a raised budget)."""
    from scientist.approvals.decide import decide
    from scientist.approvals.store import Decision

    caps = {"budget_usd": budget_usd, "budget_tokens": budget_tokens, "budget_wall_s": budget_wall_s}
    edits = _parse_edits(edit or [])
    decision = Decision(
        action="edit" if edits else "approve",
        edit=edits,
        budget={key: float(value) for key, value in caps.items() if value is not None},
    )
    approval, run_dir = decide(_runs_dir(runs_dir), approval_id, decision, _who(by))
    console.print(f"[green]{approval.status}[/] {approval.id} ({approval.kind}) by {approval.decided_by}")
    _after_decision(run_dir, resume)


@decisions.command()
def reject(
    approval_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log)")] = "",
    by: ByOption = None,
    resume: ResumeOption = False,
    runs_dir: RunsDirOption = None,
) -> None:
    """Reject what a run waits for: the run stops (its finished work is kept)."""
    from scientist.approvals.decide import decide
    from scientist.approvals.store import Decision

    approval, run_dir = decide(_runs_dir(runs_dir), approval_id, Decision(action="reject", reason=reason), _who(by))
    console.print(f"[yellow]rejected[/] {approval.id} ({approval.kind}) by {approval.decided_by}: {reason}")
    _after_decision(run_dir, resume)
