"""Budgets as approvals: at a USD/token/wall-time cap the run pauses on a "raise budget or stop" question.

The cap itself is enforced where the spending happens (LLMGateway for USD/tokens, node starts for wall time);
this module turns the stop into a persisted approval and turns an approved raise into the resumed run's caps.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scientist.approvals.store import Approval, ApprovalStore
from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.errors import BudgetExceededError

if TYPE_CHECKING:
    from scientist.context import RunContext

BUDGET_KIND = "budget"
BUDGET_FIELDS = ("budget_usd", "budget_tokens", "budget_wall_s")
SESSION_STARTS = ("run_start", "run_resume")


class WallTimeExceededError(BudgetExceededError):
    """The run has been active longer than its wall-time cap."""


def active_seconds(audit: AuditLog, now: datetime | None = None) -> float:
    """Seconds the run has been running, summed over its sessions (start/resume → last record), from the audit.

    Read from the audit log rather than kept in memory so a kill -9 loses at most the time since the last record,
    and time spent waiting for a human (no process running) does not count.
    """
    total = 0.0
    first: datetime | None = None
    last: datetime | None = None
    for record in audit.records():
        stamp = datetime.fromisoformat(record.ts)
        if record.kind in SESSION_STARTS:
            if first is not None and last is not None:
                total += (last - first).total_seconds()
            first = stamp
        last = stamp
    if first is not None and last is not None:
        end = now or datetime.now(last.tzinfo)
        total += (max(end, last) - first).total_seconds()
    return total


def check_wall_time(ctx: RunContext, before: str) -> None:
    """Called at every node start: past the cap, stop before starting more work."""
    cap = getattr(ctx.settings, "budget_wall_s", None)
    if cap is None:
        return
    spent = active_seconds(ctx.audit)
    if spent >= cap:
        raise WallTimeExceededError(
            f"wall-time budget reached before '{before}': {spent:.0f}s of {cap:.0f}s",
            hint="raise it with --budget-wall-s to continue",
        )


def open_budget_approval(ctx: RunContext, err: BudgetExceededError) -> Approval:
    """A new pending "raise budget or stop" approval for this stop (one per stop, so each raise is audited)."""
    store = ApprovalStore(ctx.run_dir)
    number = sum(1 for approval in store.all() if approval.kind == BUDGET_KIND)
    spend = ctx.gateway.spend
    payload: dict[str, Any] = {
        "reason": err.message,
        "spent": {"usd": spend.usd, "tokens": spend.tokens, "calls": spend.calls},
        "caps": {name: getattr(ctx.settings, name, None) for name in BUDGET_FIELDS},
    }
    if isinstance(err, WallTimeExceededError):
        payload["spent"]["wall_s"] = round(active_seconds(ctx.audit), 1)
    approval = store.ensure_pending(ctx.run_id, BUDGET_KIND, f"budget:{number}", "raise budget or stop", payload)
    ctx.audit.emit(audit_events.ApprovalRequested(id=approval.id, kind=BUDGET_KIND, reason=err.message), "pipeline")
    return approval


def budget_overrides(run_dir: Path) -> dict[str, float]:
    """The caps the latest approved budget raise set (applied again on every later resume)."""
    raised: dict[str, float] = {}
    for approval in ApprovalStore(run_dir).all():
        if approval.kind == BUDGET_KIND and approval.status == "approved" and approval.decision is not None:
            raised.update(approval.decision.budget)
    return raised


def latest_budget(run_dir: Path) -> Approval | None:
    budgets = [approval for approval in ApprovalStore(run_dir).all() if approval.kind == BUDGET_KIND]
    return budgets[-1] if budgets else None
