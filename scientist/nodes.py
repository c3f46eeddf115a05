"""The pipeline's work nodes, in the order a run goes through them: the one list the graph (pipeline), the probe
specs and their injection (probing) and the settings that name a node take their names from.

Why its own module at the bottom of the layers: the graph is built high up (`pipeline`), but the probes that name a
node sit below it, and a name list copied into each drifted (the approval gates between the nodes are
`approvals.gates.GATE_NODES`, not listed here).
"""

from __future__ import annotations

from typing import Literal, get_args

NodeName = Literal["ideate", "novelty", "select", "experiment", "write", "review"]
NODES: tuple[NodeName, ...] = get_args(NodeName)


def node_index(node: NodeName) -> int:
    """The node's place in the run (0 for `ideate`): what "before" and "after" between nodes mean."""
    return NODES.index(node)
