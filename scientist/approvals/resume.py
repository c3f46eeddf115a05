"""What a resume must settle first: undecided approvals block it, a budget decision sets (or ends) its caps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scientist.approvals.budget import BUDGET_FIELDS, BUDGET_KIND, budget_overrides, latest_budget
from scientist.approvals.gates import ApprovalPendingError, pending_message
from scientist.approvals.store import ApprovalStore
from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.errors import ScientistError
from scientist.runs import RunInfo, save_run
from scientist.store import sync_run


def settle_before_resume(info: RunInfo, run_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings overrides for this resume; raises while a decision is missing or after 'stop'."""
    store = ApprovalStore(run_dir)
    given = {key: value for key, value in overrides.items() if value is not None}
    raised_by_flags = any(key in given for key in BUDGET_FIELDS)
    for approval in store.pending():
        if approval.kind == BUDGET_KIND and raised_by_flags:
            store.supersede(approval.id, "cli:resume flags", "budget raised by flags given to `scientist resume`")
            AuditLog(run_dir).emit(
                audit_events.ApprovalSuperseded(id=approval.id, by="resume flags", caps=given),
                "user",
            )
    waiting = store.pending()
    if waiting:
        raise ApprovalPendingError(pending_message(info.id, waiting))
    budget = latest_budget(run_dir)
    if budget is not None and budget.status == "rejected":
        reason = budget.decision.reason if budget.decision else ""
        detail = f"stopped at its budget by {budget.decided_by}: {reason}"
        save_run(run_dir.parent, info.model_copy(update={"status": "stopped", "status_detail": detail}), run_dir)
        AuditLog(run_dir).emit(audit_events.RunEnd(status="stopped", reason=detail), "pipeline")
        sync_run(run_dir)  # the store's row follows run.json; a store failure is not this command's concern
        raise ScientistError(f"run {info.id} was {detail}", hint="start a new run instead")
    return {**budget_overrides(run_dir), **given}
