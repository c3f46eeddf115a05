"""Taking a decision: check it fits the approval and the run, record it atomically, audit who decided."""

from __future__ import annotations

from pathlib import Path

from scientist.approvals.budget import BUDGET_FIELDS, BUDGET_KIND
from scientist.approvals.errors import ApprovalError
from scientist.approvals.gates import IDEA_TEXT_FIELDS, WRITE_FEEDBACK
from scientist.approvals.store import Approval, ApprovalStore, Decision, find_approval
from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.runs import load_config_snapshot, load_run

WAITING_STATUSES = ("waiting", "paused")
STUDY_BUDGET_KIND = "study_budget"  # scientist.study.budget (not imported: approvals must not need the store)


def _check_fits(approval: Approval, decision: Decision, run_dir: Path) -> None:
    if decision.action == "reject" and not decision.reason.strip():
        raise ApprovalError("a rejection needs a reason", hint="pass --reason '...'")
    budget_kinds = (BUDGET_KIND, STUDY_BUDGET_KIND)
    if decision.budget and approval.kind not in budget_kinds:
        raise ApprovalError(f"approval {approval.id} is a {approval.kind} gate, not a budget stop",
                            hint="--budget-* options apply to budget approvals only")
    unknown = sorted(set(decision.budget) - set(BUDGET_FIELDS))
    if unknown:
        raise ApprovalError(f"unknown budget fields {unknown}", hint=f"use {list(BUDGET_FIELDS)}")
    if approval.kind in budget_kinds and decision.action == "approve" and not decision.budget:
        raise ApprovalError(f"approval {approval.id} asks to raise the budget or stop",
                            hint="approve with --budget-usd N, --budget-tokens N or --budget-wall-s N; or reject")
    if decision.action != "edit":
        return
    if approval.kind == "ideas":
        bad = sorted(set(decision.edit) - set(IDEA_TEXT_FIELDS))
        if bad or not decision.edit:
            raise ApprovalError(f"cannot edit idea fields {bad or '(none given)'}",
                                hint=f"edit one of {list(IDEA_TEXT_FIELDS)}, e.g. --edit title='...'")
    elif approval.kind == "code":
        from scientist.template import load_template

        template = load_template(str(load_config_snapshot(run_dir).get("template", "reward_misspec")))
        decision.edit.update(template.validate_variant(decision.edit))  # unknown params / bad values: clear error
        if not decision.edit:
            raise ApprovalError("an edit of the experiment plan needs values", hint="e.g. --edit proxy_weight=0.5")
    elif approval.kind == "write":
        if set(decision.edit) != {WRITE_FEEDBACK} or not str(decision.edit[WRITE_FEEDBACK]).strip():
            raise ApprovalError(f"the write gate takes only {WRITE_FEEDBACK}=TEXT, got {sorted(decision.edit)}",
                                hint="e.g. --edit feedback='state the limitation of a single seed'")
    else:
        raise ApprovalError(f"a {approval.kind} approval cannot be edited", hint="approve or reject it")


def decide(runs_dir: Path, approval_id: str, decision: Decision, decided_by: str) -> tuple[Approval, Path]:
    """Record a decision; exactly one of several concurrent deciders succeeds, the others get ApprovalError."""
    approval, run_dir = find_approval(runs_dir, approval_id)
    if approval.status != "pending":
        raise ApprovalError(
            f"approval {approval.id} was already {approval.status} by {approval.decided_by} at {approval.decided_at}",
            hint=f"see `scientist approvals show {approval.id}`",
        )
    info = None if approval.kind == STUDY_BUDGET_KIND else load_run(runs_dir, str(run_dir))[0]  # a study folder
    if info is not None and info.status not in WAITING_STATUSES:
        raise ApprovalError(
            f"run {info.id} is not waiting for a decision (status: {info.status})",
            hint="decide once the run has stopped at the gate; see `scientist runs show " + info.id + "`",
        )
    _check_fits(approval, decision, run_dir)
    decided = ApprovalStore(run_dir).decide(approval.id, decision, decided_by)
    AuditLog(run_dir).emit(
        audit_events.ApprovalDecided(id=decided.id, kind=decided.kind, **decision.model_dump()), f"human:{decided_by}"
    )
    return decided, run_dir
