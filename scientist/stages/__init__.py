"""Pipeline stages: each module does one node's work, given a RunContext; the graph only wires them."""
