"""Which runs the experiment stage plans: K runs in a row, or a best-first tree over code states.

Linear (AI-Scientist v1): run i starts from the code of the last run that worked and sees every earlier result.
Tree (in the spirit of AI-Scientist v2): nodes are (code state, results); the best unexpanded working node by the
template's primary metric is expanded into B children (each one edit→run→fix run), for at most D expansions and
depth D. A child whose fixes all fail is a buggy node: it is pruned (kept in the run folder, never expanded).
Selection reads only finished records, so a resumed run re-derives the same tree and skips finished nodes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from scientist.context import RunContext
from scientist.runs import RunFolder

RunMode = Literal["baseline", "edit", "config"]


class PlannedRun(BaseModel):
    """One run the search wants: where its code starts (`parent`), and how it changes it (`mode`)."""

    label: str
    mode: RunMode
    parent: str | None = None
    depth: int = 0
    ordinal: int = 0  # seed offset of this run's model calls (siblings with one prompt must differ)
    seed: int | None = None  # the edit calls' own seed (a best-of-n edit candidate's); None: seed + ordinal
    total_runs: int = 1
    history: list[dict[str, str]] = Field(default_factory=list, description="label + summary of earlier runs")
    overrides: dict[str, Any] = Field(default_factory=dict, description="config values (mode 'config' only)")


Runner = Callable[[PlannedRun], dict[str, Any]]


def search_runs(ctx: RunContext, baseline: dict[str, Any], runner: Runner) -> list[dict[str, Any]]:
    """The planned runs after the baseline, by the configured search."""
    if ctx.settings.search == "tree":
        return tree_search(ctx, baseline, runner, ctx.settings.tree_breadth, ctx.settings.tree_depth)
    return linear_search(ctx, baseline, runner, ctx.settings.experiment_runs)


def summarize(record: dict[str, Any], primary: str) -> str:
    """One line the model (and notes.md) sees about a finished run, from its record only."""
    changes = ", ".join(f"{key}={value}" for key, value in sorted(record["overrides"].items())) or "defaults"
    if not record["ok"]:
        return f"config {changes}; FAILED ({record['failure']})"
    metric = record["metric"]
    shown = f"{metric:.3f}" if isinstance(metric, int | float) else str(metric)
    return f"config {changes}; {primary} = {shown}"


def _edit_run(
    label: str, parent: dict[str, Any], ordinal: int, total: int, seen: list[dict[str, Any]], primary: str
) -> PlannedRun:
    """An edit run from `parent`'s code; the model is shown a one-line summary of each run in `seen`."""
    return PlannedRun(
        label=label,
        mode="edit",
        parent=parent["label"],
        depth=parent["depth"] + 1,
        ordinal=ordinal,
        total_runs=total,
        history=[{"label": r["label"], "summary": summarize(r, primary)} for r in seen],
    )


def linear_search(ctx: RunContext, baseline: dict[str, Any], runner: Runner, runs: int) -> list[dict[str, Any]]:
    primary = ctx.template.primary_metric
    done: list[dict[str, Any]] = []
    parent = baseline
    for index in range(1, runs + 1):
        record = runner(_edit_run(f"run_{index}", parent, index, runs, [baseline, *done], primary))
        done.append(record)
        if record["ok"]:
            parent = record
    return done


def score(record: dict[str, Any], direction: str) -> float:
    """Higher is better whatever the metric's direction; a run without a number scores -inf."""
    value = record.get("metric")
    if not record["ok"] or not isinstance(value, int | float) or not math.isfinite(value):
        return -math.inf
    return float(value) if direction == "higher" else -float(value)


def tree_search(
    ctx: RunContext, baseline: dict[str, Any], runner: Runner, breadth: int, depth: int
) -> list[dict[str, Any]]:
    primary = ctx.template.primary_metric
    direction = ctx.template.metrics[primary].direction
    nodes = [baseline]
    expanded: list[str] = []
    ordinal = 0
    for _ in range(depth):
        frontier = [n for n in nodes if n["ok"] and n["depth"] < depth and n["label"] not in expanded]
        if not frontier:
            break
        parent = max(frontier, key=lambda n: score(n, direction))  # ties: the earliest node (max keeps the first)
        expanded.append(parent["label"])
        lineage = _ancestors(nodes, parent)
        siblings: list[dict[str, Any]] = []
        for _child in range(breadth):
            ordinal += 1
            seen = [*lineage, *siblings]
            record = runner(_edit_run(f"node_{ordinal}", parent, ordinal, breadth * depth, seen, primary))
            siblings.append(record)
            nodes.append(record)
        _write_tree(ctx, nodes, expanded, direction)
    _write_tree(ctx, nodes, expanded, direction)
    return nodes[1:]


def _ancestors(nodes: list[dict[str, Any]], node: dict[str, Any]) -> list[dict[str, Any]]:
    by_label = {n["label"]: n for n in nodes}
    chain = [node]
    while chain[-1]["parent"] is not None and chain[-1]["parent"] in by_label:
        chain.append(by_label[chain[-1]["parent"]])
    return list(reversed(chain))


def _write_tree(ctx: RunContext, nodes: list[dict[str, Any]], expanded: list[str], direction: str) -> None:
    """tree.json: every node with its parent, depth, score and status (expanded, leaf or pruned)."""
    entries = []
    for node in nodes:
        status = "expanded" if node["label"] in expanded else ("leaf" if node["ok"] else "pruned")
        entries.append(
            {
                "label": node["label"],
                "parent": node["parent"],
                "depth": node["depth"],
                "ok": node["ok"],
                "metric": node.get("metric"),
                "status": status,
                "failure": node.get("failure"),
            }
        )
    best = max(nodes, key=lambda n: score(n, direction))
    summary = {"metric": ctx.template.primary_metric, "direction": direction, "best": best["label"], "nodes": entries}
    RunFolder.write_json(ctx.folder.tree, summary, sort_keys=True, ensure_ascii=True)
    json.dumps(summary)  # fail loudly here, not in a reader, if a record ever held something unserialisable
