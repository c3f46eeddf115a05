"""The pipeline's work nodes are listed once (scientist.nodes): the graph, its steps and the probes agree."""

from __future__ import annotations

from scientist import pipeline
from scientist.approvals.gates import GATE_NODES
from scientist.nodes import NODES, node_index
from scientist.probing.spec import ProbeSpec


def test_the_graph_runs_every_work_node_in_the_listed_order_with_the_gates_between() -> None:
    assert tuple(pipeline.NODE_FUNCTIONS) == NODES
    assert tuple(step for step in pipeline.STEPS if step in NODES) == NODES
    assert set(pipeline.STEPS) - set(NODES) == set(GATE_NODES)


def test_a_probe_names_any_work_node_and_ends_only_after_its_own() -> None:
    for node in NODES:
        assert ProbeSpec(kind="shutdown", node=node).node == node
    later = [node for node in NODES if node_index(node) > node_index("select")]
    assert [ProbeSpec(kind="shutdown", node="select", end_before=node).end_before for node in later] == later
