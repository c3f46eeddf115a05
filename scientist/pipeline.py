"""The research pipeline as a checkpointed langgraph StateGraph.

ideate → novelty → select → experiment → write → review. Each node's output is checkpointed in
`runs/<id>/state.sqlite` when the node completes, so a run killed anywhere resumes at the node that was running,
and completed nodes never run again. Node start/end are audited, which is how tests prove that.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any, TypedDict, cast

from scientist.context import RunContext
from scientist.errors import CorruptRunError

NODES = ("ideate", "novelty", "select", "experiment", "write", "review")
STATE_DB = "state.sqlite"


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
    review: dict[str, Any]


def _ideate(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.ideation import generate_ideas

    ideas = generate_ideas(ctx, state["topic"])
    _save(ctx, "ideas.json", ideas)
    return {"ideas": ideas}


def _novelty(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.novelty import check_novelty

    outcome = check_novelty(ctx, state["topic"], state["ideas"])
    _save(ctx, "novelty.json", outcome["novelty"])
    return {"novelty": outcome["novelty"], "candidates": outcome["candidates"]}


def _select(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.ideation import select_idea

    idea, rule = select_idea(state.get("candidates") or state["ideas"])
    ctx.audit.append("idea_selected", "pipeline", {"index": idea["index"], "title": idea["title"], "rule": rule})
    _save(ctx, "selected_idea.json", idea)
    return {"selected": idea}


def _experiment(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.experiment import make_plots, run_experiments

    records = run_experiments(ctx, state["selected"])
    return {"experiments": records, "figure": make_plots(ctx, records)}


def _write(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.writing import write_paper

    return {"paper": write_paper(ctx, state["selected"], state["experiments"], state.get("figure"))}


def _review(ctx: RunContext, state: PipelineState) -> PipelineState:
    from scientist.stages.review import review_run_paper

    paper_md = (ctx.run_dir / state["paper"]["md"]).read_text(encoding="utf-8")
    review = review_run_paper(ctx, paper_md, state["paper"]["md"])
    _save(ctx, "review.json", review)
    return {"review": review}


NODE_FUNCTIONS: dict[str, Callable[[RunContext, PipelineState], PipelineState]] = {
    "ideate": _ideate,
    "novelty": _novelty,
    "select": _select,
    "experiment": _experiment,
    "write": _write,
    "review": _review,
}


def _save(ctx: RunContext, name: str, data: Any) -> None:
    path = ctx.run_dir / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


def _audited(ctx: RunContext, name: str) -> Callable[[PipelineState], PipelineState]:
    function = NODE_FUNCTIONS[name]

    def node(state: PipelineState) -> PipelineState:
        ctx.progress(name, "started")
        ctx.audit.append("node_start", "pipeline", {"node": name})
        try:
            update = function(ctx, state)
        except BaseException as err:
            ctx.audit.append("node_error", "pipeline", {"node": name, "error": f"{type(err).__name__}: {err}"})
            raise
        ctx.audit.append("node_end", "pipeline", {"node": name, "keys": sorted(update)})
        return update

    return node


@contextmanager
def checkpointer(run_dir: Path) -> Iterator[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    connection = sqlite3.connect(run_dir / STATE_DB, check_same_thread=False)
    try:
        (verdict,) = connection.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
    except sqlite3.DatabaseError as err:
        connection.close()
        raise CorruptRunError(
            f"the checkpoint {run_dir / STATE_DB} is damaged ({err})",
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
    graph.add_edge(START, NODES[0])
    for before, after in pairwise(NODES):
        graph.add_edge(before, after)
    graph.add_edge(NODES[-1], END)
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
    """Run (or continue) the graph until it ends; raises whatever stopped it, with the checkpoint intact."""
    with checkpointer(ctx.run_dir) as saver:
        graph = build_graph(ctx, saver)
        config = thread_config(ctx.run_id)
        snapshot = graph.get_state(config)
        start: PipelineState | None = None if snapshot.values else {"run_id": ctx.run_id, "topic": topic}
        result: PipelineState = graph.invoke(start, config)
        return result
