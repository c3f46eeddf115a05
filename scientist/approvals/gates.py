"""Approval gates as langgraph interrupts, and `request_approval`, the hook any node (or a monitor) can call.

A gate persists a pending approval, then calls langgraph's `interrupt()`: the graph stops with its checkpoint
intact and the process exits. A human decides from the CLI or web page (written to the run's approvals store);
`scientist resume` continues with `Command(resume=decision)`. On resume the gate node re-executes from its start
(langgraph semantics), finds its approval already decided, and applies the decision.
Gates change no prompt, except through a human's edit (an idea's text, or feedback at the write gate).
"""

from __future__ import annotations

import contextvars
import difflib
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from scientist.approvals.errors import ApprovalError, ApprovalPendingError
from scientist.approvals.store import Approval, ApprovalStore, Decision
from scientist.audit import events as audit_events
from scientist.audit.log import canonical_json
from scientist.runs import RunFolder
from scientist.sandbox.final_info import record_metrics

if TYPE_CHECKING:
    from scientist.context import RunContext

__all__ = ["ApprovalPendingError", "request_approval"]

ApproveMode = Literal["none", "ideas", "code", "all"]
GATES_BY_MODE: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "ideas": frozenset({"ideas"}),
    "code": frozenset({"code"}),
    "all": frozenset({"ideas", "code", "write"}),
}
IDEA_TEXT_FIELDS = ("title", "hypothesis", "experiment_plan", "risks")
WRITE_FEEDBACK = "feedback"  # the write gate's one editable field: `scientist approve ID --edit feedback='...'`
# gate node name -> the kind of approval it asks for; wired in pipeline.STEPS
GATE_NODES = {"gate_ideas": "ideas", "gate_code": "code", "gate_write": "write"}
# (ctx, selected idea) -> the plan the experiment node will run, saved to plan.json (stages.experiment.plan_variant)
Planner = Callable[["RunContext", dict[str, Any]], dict[str, Any]]

_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("scientist_run_context", default=None)


def bind_context(ctx: RunContext) -> contextvars.Token[RunContext | None]:
    """Make `ctx` the run that `request_approval` (called without a context, e.g. by a monitor) belongs to."""
    return _current.set(ctx)


def current_context() -> RunContext | None:
    """The run bound by the pipeline, or None outside a run."""
    return _current.get()


def unbind_context(token: contextvars.Token[RunContext | None]) -> None:
    _current.reset(token)


def pending_message(run_id: str, approvals: list[Approval]) -> str:
    first = approvals[0]
    ids = ", ".join(f"{a.id} ({a.kind}: {a.title})" for a in approvals)
    return (
        f"run {run_id} waits for approval {ids}; see `scientist approvals show {first.id}`, then"
        f" `scientist approve {first.id}` or `scientist reject {first.id} --reason ...`,"
        f" then `scientist resume {run_id}` (or `scientist approve {first.id} --resume`)"
    )


def request_approval(
    kind: str,
    payload: dict[str, Any],
    *,
    title: str | None = None,
    key: str | None = None,
    ctx: RunContext | None = None,
) -> Decision:
    """Ask a human; returns their decision. Must run inside a graph node: the first call interrupts the graph.

    `key` identifies the question across re-executions of the node (default: kind + a hash of the payload), so a
    resumed node gets the decision instead of asking again.
    """
    from langgraph.errors import GraphInterrupt
    from langgraph.types import Interrupt, interrupt

    ctx = ctx or _current.get()
    if ctx is None:
        raise RuntimeError("request_approval called outside a run (no bound RunContext)")
    store = ApprovalStore(ctx.run_dir)
    key = key or f"{kind}:{hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]}"
    existing = {approval.key for approval in store.all()}
    approval = store.ensure_pending(ctx.run_id, kind, key, title or kind, payload)
    if key not in existing:
        ctx.audit.emit(audit_events.ApprovalRequested(id=approval.id, kind=kind, title=approval.title), "pipeline")
    if approval.status == "pending":
        ctx.progress(f"approval:{kind}", f"waiting for approval {approval.id}")
        interrupt({"approval_id": approval.id, "kind": kind})  # raises on the first pass; returns on resume
        decided = store.get(approval.id) or approval
        if decided.status == "pending":
            # langgraph hands a node's resume value to the first interrupt() it reaches; when a node asks several
            # questions (e.g. a monitor after each sandbox run) the value answered an earlier one. The store, not
            # the resume value, is the record of decisions: still undecided means wait again.
            raise GraphInterrupt((Interrupt(value={"approval_id": approval.id, "kind": kind}, id=approval.id),))
        approval = decided
    if approval.decision is None or approval.status == "pending":
        raise ApprovalError(f"approval {approval.id} resumed without a decision", hint="decide it, then resume")
    return approval.decision


def interrupted_approvals(snapshot: Any, store: ApprovalStore) -> list[Approval]:
    """The approvals the checkpointed graph is stopped at (empty when it is not interrupted)."""
    found = []
    for pending in getattr(snapshot, "interrupts", ()) or ():
        value = getattr(pending, "value", None)
        if isinstance(value, dict) and "approval_id" in value:
            approval = store.get(value["approval_id"])
            if approval is not None:
                found.append(approval)
    return found


def resume_command(ctx: RunContext, snapshot: Any) -> Any | None:
    """`Command(resume=decision)` when the graph waits at a decided gate; raises while a decision is missing."""
    from langgraph.types import Command

    waiting = interrupted_approvals(snapshot, ApprovalStore(ctx.run_dir))
    if not waiting:
        return None
    undecided = [approval for approval in waiting if approval.status == "pending"]
    if undecided:
        raise ApprovalPendingError(pending_message(ctx.run_id, undecided))
    decision = waiting[0].decision
    return Command(resume=decision.model_dump() if decision else None)


def route_after_gate(next_node: str) -> Callable[[dict[str, Any]], str]:
    """Conditional edge: a rejection ends the run; anything else goes on to `next_node`."""

    def route(state: dict[str, Any]) -> str:
        return "__end__" if state.get("stopped") else next_node

    return route


def gate_node(
    ctx: RunContext, kind: str, *, plan_variant: Planner | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A graph node asking for approval of `kind` when the run's --approve mode includes it (else a no-op).

    The code gate shows the agent's plan: `plan_variant` (the experiment stage's planner) is passed in by the
    pipeline, so this safety layer never imports the stages above it.
    """
    if kind == "code" and plan_variant is None:
        raise ValueError("the code gate needs plan_variant (the experiment stage's planner)")

    def node(state: dict[str, Any]) -> dict[str, Any]:
        if kind not in GATES_BY_MODE[getattr(ctx.settings, "approve", "none")]:
            return {}
        if kind == "code" and plan_variant is not None:
            title, payload = _code_request(ctx, state, plan_variant)
        else:
            title, payload = BUILDERS[kind](ctx, state)
        decision = request_approval(kind, payload, title=title, key=f"gate:{kind}", ctx=ctx)
        update = apply_decision(ctx, kind, state, decision)
        ctx.audit.emit(audit_events.ApprovalApplied(kind=kind, action=decision.action), "pipeline")
        return update

    return node


def apply_decision(ctx: RunContext, kind: str, state: dict[str, Any], decision: Decision) -> dict[str, Any]:
    if decision.action == "approve":
        return {}
    if decision.action == "reject":
        return {"stopped": f"{kind} gate rejected: {decision.reason or 'no reason given'}"}
    if kind == "ideas":
        return {"selected": _edit_idea(ctx, state["selected"], decision.edit)}
    if kind == "code":
        _edit_plan(ctx, decision.edit)
        return {}
    if kind == "write":  # feedback the writer's section prompts include and must address
        return {"write_feedback": str(decision.edit[WRITE_FEEDBACK])}
    raise ApprovalError(f"the {kind} gate cannot apply an edit", hint="approve or reject it")


def _edit_idea(ctx: RunContext, idea: dict[str, Any], edit: dict[str, Any]) -> dict[str, Any]:
    edited = {**idea, **{k: str(v) for k, v in edit.items() if k in IDEA_TEXT_FIELDS}, "edited_by_human": True}
    RunFolder.write_json(ctx.folder.selected_idea, edited)
    return edited


def _edit_plan(ctx: RunContext, edit: dict[str, Any]) -> None:
    """The human's config values replace the agent's (clamped like the agent's); the experiment node reads them."""
    path = ctx.folder.plan
    plan = json.loads(path.read_text(encoding="utf-8"))
    plan["applied"] = ctx.template.clamp_variant({**plan["applied"], **edit})
    plan["edited_by_human"] = edit
    RunFolder.write_json(path, plan)


def _ideas_request(ctx: RunContext, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    selected = state["selected"]
    return f"idea: {selected.get('title', '?')}", {
        "selected": selected,
        "ideas": state.get("ideas", []),
        "novelty": state.get("novelty", []),
    }


def config_diff(ctx: RunContext, applied: dict[str, Any]) -> str:
    """The unified diff the variant run will apply to the template's editable config."""
    before_text = (ctx.template.path / "config.json").read_text(encoding="utf-8")
    before = json.loads(before_text)
    before_norm = json.dumps(before, indent=2, sort_keys=True) + "\n"
    after = json.dumps({**before, **applied}, indent=2, sort_keys=True) + "\n"
    lines = difflib.unified_diff(
        before_norm.splitlines(keepends=True), after.splitlines(keepends=True), "a/config.json", "b/config.json"
    )
    return "".join(lines)


def _code_request(ctx: RunContext, state: dict[str, Any], plan_variant: Planner) -> tuple[str, dict[str, Any]]:
    plan = plan_variant(ctx, state["selected"])  # saved to plan.json: the experiment node reuses it, no new call
    return f"experiment plan for: {state['selected'].get('title', '?')}", {
        "plan": plan,
        "diff": config_diff(ctx, plan["applied"]),
        "params": {name: spec.model_dump(mode="json") for name, spec in ctx.template.params.items()},
    }


def _write_request(ctx: RunContext, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    results = []
    for record in state.get("experiments", []):
        metrics = record_metrics(ctx.run_dir, record)
        results.append({"label": record.get("label"), "ok": record.get("ok"), "metrics": metrics})
    return f"write the paper for: {state['selected'].get('title', '?')}", {
        "selected": state["selected"],
        "results": results,
        "figure": state.get("figure"),
    }


BUILDERS: dict[str, Callable[[RunContext, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "ideas": _ideas_request,
    "write": _write_request,
}  # the code gate's request needs the agent's planner: see gate_node
