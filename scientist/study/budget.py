"""A study's [budget] as an approval: at a cap the study pauses on "raise budget or stop" instead of failing.

Checked before each run the study would start (runs in flight finish, or pause on their own run budget). Spend is
the sum over the study's runs in the store: tokens, USD, and active wall time (each run's sessions, from its audit
log, so time waiting for a human does not count). The approval lives in the study's folder
(`<runs_dir>/studies/<study>/approvals.sqlite`), so `scientist approvals list` shows it and `scientist approve ID
--budget-usd N` / `scientist reject ID --reason ...` decide it like a run's budget stop; `scientist study run`
again then continues with the raised caps (no cell or run is duplicated: finished runs are kept) or reports the
study stopped. Raising [budget] in the study file above the spend also continues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from scientist.approvals.budget import BUDGET_FIELDS, active_seconds
from scientist.approvals.decide import STUDY_BUDGET_KIND
from scientist.approvals.store import Approval, ApprovalStore
from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.errors import BudgetExceededError, ExitCode, ScientistError
from scientist.runs import RunFolder
from scientist.store.engine import Store
from scientist.store.models import Run
from scientist.study.spec import StudySpec

_SPEC_FIELD = {"budget_usd": "usd", "budget_tokens": "tokens", "budget_wall_s": "wall_s"}


class StudyBudgetError(BudgetExceededError):
    """The study's [budget] is spent: no further run starts; raising the cap and re-running continues it."""


class StudyStoppedError(ScientistError):
    """A human rejected raising the study's budget: no further run starts (the CLI reports it and exits 0)."""

    exit_code = ExitCode.OK


def study_spent(store: Store, cell_ids: list[int]) -> dict[str, float]:
    """What the study's runs have used so far, by budget field."""
    with store.session() as session:
        tokens, usd = session.execute(
            select(func.coalesce(func.sum(Run.total_tokens), 0), func.coalesce(func.sum(Run.cost_usd), 0.0))
            .where(Run.cell_id.in_(cell_ids))
        ).one()  # fmt: skip
        folders = list(session.scalars(select(Run.run_dir).where(Run.cell_id.in_(cell_ids))))
    logged = [RunFolder(Path(folder)) for folder in folders]
    wall = sum(active_seconds(AuditLog(folder.root)) for folder in logged if folder.audit_log.is_file())
    return {"budget_usd": float(usd), "budget_tokens": float(tokens), "budget_wall_s": round(wall, 1)}


def study_caps(spec: StudySpec, approvals: list[Approval]) -> dict[str, float | None]:
    """The file's caps, each raised by the approved raises (a raise below the file's cap does not lower it)."""
    caps: dict[str, float | None] = {}
    for field in BUDGET_FIELDS:
        value = getattr(spec.budget, _SPEC_FIELD[field])
        caps[field] = None if value is None else float(value)
    for approval in approvals:
        if approval.kind == STUDY_BUDGET_KIND and approval.status == "approved" and approval.decision is not None:
            for field, raised in approval.decision.budget.items():
                if caps.get(field) is not None:
                    caps[field] = max(float(caps[field] or 0), raised)
    return caps


def _over(spent: dict[str, float], caps: dict[str, float | None]) -> list[str]:
    units = {"budget_usd": "USD", "budget_tokens": "tokens", "budget_wall_s": "s of wall time"}
    return [
        f"{spent[field]:g} of {cap:g} {units[field]}"
        for field, cap in caps.items()
        if cap is not None and spent[field] >= cap
    ]


def check_study_budget(store: Store, spec: StudySpec, cell_ids: list[int], study_dir: Path) -> None:
    """Return when another run may start; else pause on a pending approval (StudyBudgetError, exit 3) or, when
    the raise for these caps was rejected, stop (StudyStoppedError)."""
    approvals = ApprovalStore(study_dir)
    known = approvals.all() if approvals.path.exists() else []
    caps = study_caps(spec, known)
    spent = study_spent(store, cell_ids)
    over = _over(spent, caps)
    if not over:
        for approval in known:  # the file's caps were raised above the spend: nobody needs to decide any more
            if approval.kind == STUDY_BUDGET_KIND and approval.status == "pending":
                approvals.supersede(approval.id, "study", "the study file's [budget] was raised")
        return
    mine = [a for a in known if a.kind == STUDY_BUDGET_KIND]
    latest = mine[-1] if mine else None
    if latest is not None and latest.status == "rejected" and latest.payload.get("caps") == caps:
        reason = latest.decision.reason if latest.decision is not None else ""
        raise StudyStoppedError(
            f"study {spec.name!r} stopped at its budget ({'; '.join(over)}): raising it was rejected by"
            f" {latest.decided_by} ({reason})",
            hint="finished runs are kept; raise [budget] in the study file and run `scientist study run` to go on",
        )
    if latest is not None and latest.status == "pending":
        approval = latest
    else:
        payload: dict[str, Any] = {"study": spec.name, "reason": "; ".join(over), "spent": spent, "caps": caps}
        study_dir.mkdir(parents=True, exist_ok=True)
        approval = approvals.ensure_pending(
            f"study:{spec.name}", STUDY_BUDGET_KIND, f"study-budget:{len(mine)}", "study: raise budget or stop",
            payload,
        )  # fmt: skip
        AuditLog(study_dir).emit(
            audit_events.ApprovalRequested(id=approval.id, kind=STUDY_BUDGET_KIND, reason=payload["reason"]),
            "study",
        )
    raise StudyBudgetError(
        f"study {spec.name!r} has spent its budget ({'; '.join(over)}) and is paused on approval {approval.id};"
        " no further run was started",
        hint=f"`scientist approve {approval.id} --budget-usd N` (or --budget-tokens/--budget-wall-s) raises it,"
        f" `scientist reject {approval.id} --reason ...` stops the study; then `scientist study run` again",
    )
