"""What a probe is (`spec`) and how the harness injects one at a node start (`inject`): the in-run side of probes.

Kept apart from `scientist.probes` (which runs probe suites through the runner and scores them) because the
pipeline calls `inject.at_node_start`, and the pipeline must not import the drivers above it.
"""
