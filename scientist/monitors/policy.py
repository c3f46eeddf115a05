"""What happens when a monitor fires: per-severity actions (log / require_approval / stop), applied in one place.

`require_approval` asks a human through the approval gates (`scientist.approvals.request_approval`: the run
interrupts, exits, and continues on `scientist resume` after the decision). Approve lets the flagged action
through (logged); reject stops the run. Outside a run (no bound context, e.g. a library caller) there is nobody to
ask, so it stops: the fail-closed reading of "do not continue without a human".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, cast

from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.errors import ExitCode, ScientistError
from scientist.monitors.events import SEVERITIES, MonitorEvent, Severity, severity_rank

Action = Literal["log", "require_approval", "stop"]
ACTIONS: tuple[Action, ...] = ("log", "require_approval", "stop")
DEFAULT_POLICY: dict[Severity, Action] = {
    "info": "log",
    "low": "log",
    "medium": "log",
    "high": "require_approval",
    "critical": "stop",
}


class MonitorStopError(ScientistError):
    """A monitor flagged an action the policy does not let through; the run stops (resumable after review)."""

    exit_code = ExitCode.MONITOR_STOPPED  # not 4: a stopped run is not waiting for anyone


def resolve_policy(overrides: Mapping[Any, Any] | None) -> dict[Severity, Action]:
    """The default policy with `overrides` (severity → action) applied; unknown names are a ScientistError."""
    policy = dict(DEFAULT_POLICY)
    for severity, action in (overrides or {}).items():
        if severity not in SEVERITIES:
            raise ScientistError(
                f"monitor_policy has an unknown severity {severity!r}", hint=f"use one of {', '.join(SEVERITIES)}"
            )
        if action not in ACTIONS:
            raise ScientistError(
                f"monitor_policy.{severity} = {action!r} is not an action", hint=f"use one of {', '.join(ACTIONS)}"
            )
        policy[cast(Severity, severity)] = cast(Action, action)
    return policy


def decide(events: list[MonitorEvent], policy: Mapping[Severity, Action]) -> Action:
    """The strictest action any event calls for ('log' when there are none)."""
    action: Action = "log"
    for event in events:
        wanted = policy[event.severity]
        if ACTIONS.index(wanted) > ACTIONS.index(action):
            action = wanted
    return action


def record_events(audit: AuditLog, events: list[MonitorEvent]) -> None:
    for event in events:
        audit.emit(audit_events.MonitorEventRecord(**event.model_dump(mode="json")), f"monitor:{event.monitor}")


def _ask_a_human(where: str, flagged: list[MonitorEvent]) -> Any:
    """The human's Decision through the approval gates, or None when no run is bound (nobody to ask).

    The question's key is built from stable fields only (not times), so the node re-executed after the decision
    finds its answer instead of asking again.
    """
    from scientist.approvals.gates import current_context, request_approval

    if current_context() is None:
        return None
    findings = [
        {"monitor": e.monitor, "rule": e.rule, "severity": e.severity, "evidence": e.evidence, "location": e.location}
        for e in flagged
    ]
    payload = {"where": where, "findings": findings}
    title = f"monitor: {flagged[0].monitor} flagged {flagged[0].rule} in {where}"
    # Evidence can quote numbers that differ between executions (a redone sandbox run); the key must not.
    stable = sorted({f"{e.monitor}/{e.rule}/{e.severity}/{e.location}" for e in flagged})
    key = "monitor:" + hashlib.sha256(json.dumps([where, stable]).encode()).hexdigest()[:16]
    return request_approval("monitor", payload, title=title, key=key)


def enforce(audit: AuditLog, events: list[MonitorEvent], policy: Mapping[Severity, Action], *, where: str) -> Action:
    """Record every event, then act: return 'log', or raise MonitorStopError for 'stop'/'require_approval'."""
    record_events(audit, events)
    action = decide(events, policy)
    if action == "log":
        return action
    flagged = sorted((e for e in events if policy[e.severity] == action), key=lambda e: -severity_rank(e.severity))
    first = flagged[0]
    summary: dict[str, Any] = {
        "where": where,
        "action": action,
        "events": len(flagged),
        "monitors": sorted({e.monitor for e in flagged}),
    }
    if action == "require_approval":
        audit.emit(audit_events.MonitorApprovalPending(**summary), "monitors")
        decision = _ask_a_human(where, flagged)
        if decision is not None and decision.action == "approve":
            audit.emit(audit_events.MonitorApproved(**summary), "monitors")
            return "log"
        if decision is not None:
            reason = f"approval rejected: {decision.reason}" if decision.reason else "approval rejected"
        else:
            reason = "the policy requires approval and no run is bound to ask in"
        audit.emit(audit_events.MonitorStop(**summary, reason=reason), "monitors")
        raise MonitorStopError(
            f"{where}: monitor {first.monitor} flagged {first.rule} ({first.severity}): {first.evidence}; {reason},"
            " so the run stopped",
            hint="inspect with `scientist monitors scan RUN`; to let such findings through set monitor_policy."
            f'{first.severity} = "log" in scientist.toml',
        )
    audit.emit(audit_events.MonitorStop(**summary), "monitors")
    raise MonitorStopError(
        f"{where}: monitor {first.monitor} flagged {first.rule} ({first.severity}): {first.evidence}; run stopped",
        hint="inspect with `scientist monitors scan RUN`; the audit log holds every monitor_event",
    )
