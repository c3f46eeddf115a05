"""The research pipeline as a checkpointed langgraph StateGraph.

ideate → novelty → select → experiment → write → review. Each node's output is checkpointed in
`runs/<id>/state.sqlite` when the node completes, so a run killed anywhere resumes at the node that was running,
and completed nodes never run again. Node start/end are audited, which is how tests prove that.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any, TypedDict, cast

from scientist.approvals.gates import GATE_NODES, gate_node, route_after_gate
from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.errors import CorruptRunError
from scientist.nodes import NODES, NodeName
from scientist.runs import RunFolder

# The graph's order: NODES with the approval gates (no-ops unless --approve asks for them) between them.
STEPS = ("ideate", "novelty", "select", "gate_ideas", "gate_code", "experiment", "gate_write", "write", "review")


class PipelineState(TypedDict, total=False):
    run_id: str
    topic: str
    ideas: list[dict[str, Any]]
    novelty: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    selected: dict[str, Any]
    experiments: list[dict[str, Any]]
    figure: str | None
    paper: dict[str, Any]
    write_feedback: str | None  # an operator's feedback from the write gate, which the paper must address
    review: dict[str, Any]
    stopped: str | None


def _ideate(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.ideation import generate_ideas

    ideas = generate_ideas(ctx, state["topic"])
    RunFolder.write_json(ctx.folder.ideas, ideas)
    return {"ideas": ideas}


def _novelty(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.novelty import check_novelty

    outcome = check_novelty(ctx, state["topic"], state["ideas"])
    RunFolder.write_json(ctx.folder.novelty, outcome["novelty"])
    return {"novelty": outcome["novelty"], "candidates": outcome["candidates"]}


def _select(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.ideation import select_idea

    idea, rule = select_idea(ctx, state["ideas"], state.get("candidates"))
    ctx.audit.emit(audit_events.IdeaSelected(index=idea["index"], title=idea["title"], rule=rule), "pipeline")
    RunFolder.write_json(ctx.folder.selected_idea, idea)
    return {"selected": idea}


def _experiment(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.experiment import make_plots, run_experiments

    records = run_experiments(ctx, state["selected"])
    return {"experiments": records, "figure": make_plots(ctx, records)}


def _write(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.monitors.hooks import check_paper
    from scientist.stages.drafts import write_best_draft

    paper = write_best_draft(
        ctx,
        state["selected"],
        state["experiments"],
        state.get("figure"),
        feedback=state.get("write_feedback"),
        novelty=state.get("novelty"),
    )
    check_paper(ctx, paper, state["experiments"])
    return {"paper": paper}


def _review(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.review import review_run_paper

    paper_md = (ctx.run_dir / state["paper"]["md"]).read_text(encoding="utf-8")
    review = review_run_paper(ctx, paper_md, state["paper"]["md"])
    RunFolder.write_json(ctx.folder.review, review)
    return {"review": review}


NODE_FUNCTIONS: dict[NodeName, Callable[[RunContext, PipelineState], PipelineState]] = {
    "ideate": _ideate,
    "novelty": _novelty,
    "select": _select,
    "experiment": _experiment,
    "write": _write,
    "review": _review,
}


def _plan_variant(ctx: RunContext, idea: dict[str, Any]) -> dict[str, Any]:
    """The code gate's planner (the gate sits in a lower layer, so the pipeline hands it the stage's function)."""
    from scientist.stages.experiment import plan_variant

    return plan_variant(ctx, idea)


def _audited(ctx: RunContext, name: NodeName) -> Callable[[PipelineState], PipelineState]:
    function = NODE_FUNCTIONS[name]

    def node(state: PipelineState) -> PipelineState:
        from langgraph.errors import GraphInterrupt

        from scientist.approvals.budget import check_wall_time
        from scientist.faults import kill_point
        from scientist.probing.inject import at_node_start

        kill_point(f"before:{name}")
        check_wall_time(ctx, before=name)
        at_node_start(ctx, name)  # probes planned in Settings.probes (a no-op without them)
        ctx.progress(name, "started")
        ctx.audit.emit(audit_events.NodeStart(node=name), "pipeline")
        try:
            update = function(ctx, state)
        except GraphInterrupt:  # request_approval() inside the node: waiting for a human, not an error
            ctx.audit.emit(audit_events.NodeWaiting(node=name), "pipeline")
            raise
        except BaseException as err:
            ctx.audit.emit(audit_events.NodeError(node=name, error=f"{type(err).__name__}: {err}"), "pipeline")
            raise
        ctx.audit.emit(audit_events.NodeEnd(node=name, state_keys=sorted(update)), "pipeline")
        return update

    return node


@contextmanager
def checkpointer(run_dir: Path) -> Iterator[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    state_db = RunFolder(run_dir).state_db
    connection = sqlite3.connect(state_db, check_same_thread=False)
    try:
        (verdict,) = connection.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
    except sqlite3.DatabaseError as err:
        connection.close()
        raise CorruptRunError(
            f"the checkpoint {state_db} is damaged ({err})",
            hint="the run cannot be resumed; its audit log and outputs are still readable",
        ) from err
    try:
        yield SqliteSaver(connection)
    finally:
        connection.close()


def build_graph(ctx: RunContext, saver: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(PipelineState)
    for name in NODES:
        graph.add_node(name, cast(Any, _audited(ctx, name)))  # langgraph types nodes by input schema
    for gate, kind in GATE_NODES.items():
        graph.add_node(gate, cast(Any, gate_node(ctx, kind, plan_variant=_plan_variant)))
    graph.add_edge(START, STEPS[0])
    for before, after in pairwise(STEPS):
        if before in GATE_NODES:  # a rejected gate ends the run
            graph.add_conditional_edges(before, cast(Any, route_after_gate(after)), [after, END])
        else:
            graph.add_edge(before, after)
    graph.add_edge(STEPS[-1], END)
    return graph.compile(checkpointer=saver)


def thread_config(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}}


def next_nodes(ctx: RunContext) -> tuple[str, ...]:
    """Nodes still to run ('()' when the run is complete); a run never started returns all nodes."""
    with checkpointer(ctx.run_dir) as saver:
        snapshot = build_graph(ctx, saver).get_state(thread_config(ctx.run_id))
    if not snapshot.values:
        return NODES
    return tuple(snapshot.next)


def run_pipeline(ctx: RunContext, topic: str) -> PipelineState:
    """Run (or continue) the graph until it ends; raises whatever stopped it, with the checkpoint intact.

    A graph stopped at an approval gate continues with the human's decision; one that stops at a gate now raises
    ApprovalPendingError (the process can exit: the decision is taken later, from the CLI or the web page).
    """
    from scientist.approvals.gates import (
        ApprovalPendingError,
        bind_context,
        interrupted_approvals,
        pending_message,
        resume_command,
        unbind_context,
    )
    from scientist.approvals.store import ApprovalStore

    token = bind_context(ctx)
    try:
        with checkpointer(ctx.run_dir) as saver:
            graph = build_graph(ctx, saver)
            config = thread_config(ctx.run_id)
            snapshot = graph.get_state(config)
            start: Any = resume_command(ctx, snapshot)
            if start is None and not snapshot.values:
                start = {"run_id": ctx.run_id, "topic": topic}
            # sync: a node's checkpoint is on disk before the next node starts, so a kill -9 never loses it
            result: PipelineState = graph.invoke(start, config, durability="sync")
            waiting = interrupted_approvals(graph.get_state(config), ApprovalStore(ctx.run_dir))
            if waiting:
                raise ApprovalPendingError(pending_message(ctx.run_id, waiting))
            return result
    finally:
        unbind_context(token)
