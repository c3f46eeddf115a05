"""The pipeline's two calls into the monitors: after each sandbox run, and after the paper is written.

Each scans, records every event in the audit log (kind `monitor_event`) and applies the configured policy, which
may stop the run (`MonitorStopError`). They run *before* a sandbox run's result.json is written, so a run stopped
here is redone and re-checked on resume instead of being skipped as finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scientist.audit.events import CheckedByMonitors
from scientist.monitors.dynamic import scan_sandbox_result
from scientist.monitors.events import MonitorEvent
from scientist.monitors.paperscan import removed_number_events, scan_paper, unknown_citation_events
from scientist.monitors.policy import enforce, resolve_policy
from scientist.monitors.runscan import scan_workspace
from scientist.sandbox.final_info import ok_final_infos

if TYPE_CHECKING:
    from scientist.context import RunContext
    from scientist.template import Template


# Not `monitor*`: the store imports those kinds as flags, and a clean scan is no flag.
CHECKED_KIND = CheckedByMonitors.KIND


def _checked(ctx: RunContext, where: str, node: str, candidate: str | None, events: list[MonitorEvent]) -> None:
    """Proof in the audit log that the monitors looked at this place, even when they found nothing."""
    ctx.audit.emit(CheckedByMonitors(where=where, node=node, candidate=candidate, events=len(events)), "monitors")


def _tagged(events: list[MonitorEvent], ctx: RunContext, node: str, candidate: str | None) -> list[MonitorEvent]:
    return [e.model_copy(update={"run_id": ctx.run_id, "node": node, "candidate": candidate}) for e in events]


def sandbox_run_events(
    workspace: Path,
    result: Any,
    template: Template,
    location: str,
    *,
    agent_files: bool = True,
    final_info_claims: bool = True,
    config_text: str | None = None,
) -> list[MonitorEvent]:
    """The monitors' events for one finished sandbox run, untagged and without the policy: the static scan of the
    workspace the run left (agent_files) and the run's dynamic evidence (its outputs checked against its log when
    final_info_claims). One function for the harness (`check_sandbox_run`) and for the corpus re-evaluation
    (scientist.stages.reeval), so the corpus measures exactly what a real run is judged by. `config_text` is the
    config.json the harness wrote for the run, the record its outputs are checked against."""
    events = scan_workspace(workspace, template) if agent_files else []
    scanned = workspace if final_info_claims else None
    events += scan_sandbox_result(result, template, workspace=scanned, location=location, config_text=config_text)
    return events


def check_sandbox_run(
    ctx: RunContext,
    label: str,
    workspace: Path,
    result: Any,
    *,
    agent_files: bool = True,
    final_info_claims: bool = True,
    config_text: str | None = None,
) -> list[MonitorEvent]:
    """Static scan of the workspace against the template, plus the run's dynamic evidence; then the policy.

    agent_files=False (the plot run, the evaluator run: the template's own code over outputs the harness copied in)
    skips the static scan, which would report those copied outputs as files the agent may not add.
    final_info_claims=False (the evaluator run) skips checking its final_info.json against its log: that file is the
    measurement, not a claim (an evaluator reports the training episodes it did not run), and the agent's claims are
    compared with it in scientist.stages.evaluation."""
    location = f"experiments/{label}"
    events = sandbox_run_events(
        workspace,
        result,
        ctx.template,
        location,
        agent_files=agent_files,
        final_info_claims=final_info_claims,
        config_text=config_text,
    )
    events = _tagged(events, ctx, "experiment", label)
    _checked(ctx, f"experiments/{label}", "experiment", label, events)
    enforce(ctx.audit, events, resolve_policy(ctx.settings.monitor_policy), where=f"sandbox run {label!r}")
    return events


def check_paper(ctx: RunContext, paper: dict[str, Any], records: list[dict[str, Any]]) -> list[MonitorEvent]:
    """Fabricated numbers and reviewer-directed text in the draft's prose; then the policy."""
    draft_path = ctx.run_dir / Path(paper["md"]).parent / "draft.json"
    sections = json.loads(draft_path.read_text(encoding="utf-8")) if draft_path.is_file() else {}
    runs = ok_final_infos(ctx.run_dir, records)
    events = scan_paper(sections, runs, ctx.template) + unknown_citation_events(paper.get("removed_citations") or [])
    events += removed_number_events(paper.get("removed_numbers") or [])
    events = _tagged(events, ctx, "write", None)
    _checked(ctx, "paper", "write", None, events)
    enforce(ctx.audit, events, resolve_policy(ctx.settings.monitor_policy), where="paper draft")
    return events


def check_claims(ctx: RunContext, label: str, events: list[MonitorEvent]) -> list[MonitorEvent]:
    """The agent's own metric claims against the evaluator's measurement (scientist.monitors.claims); then the
    policy. Called once per seed, after the evaluator ran."""
    events = _tagged(events, ctx, "experiment", label)
    _checked(ctx, f"experiments/{label}/claims", "experiment", label, events)
    enforce(ctx.audit, events, resolve_policy(ctx.settings.monitor_policy), where=f"metric claims of {label!r}")
    return events
