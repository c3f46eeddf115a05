"""Safety monitors over every agent action and artifact: static analysis of edits, dynamic evidence from sandbox
runs, and checks on the paper; each finding is a `MonitorEvent`, and a per-severity policy decides what happens.

Entry points: `scan_diff(diff, template)`, `scan_workspace(dir, template)`, `scan_sandbox_result(result, template)`,
`scan_paper(sections, runs, template)`, `scan_run(run_dir, template)`; the pipeline calls `hooks`.
"""

from scientist.monitors.diffscan import scan_diff, scan_file_change
from scientist.monitors.dynamic import scan_sandbox_result
from scientist.monitors.events import MONITORS, SEVERITIES, MonitorEvent, MonitorName, Severity, worst
from scientist.monitors.paperscan import scan_paper
from scientist.monitors.policy import DEFAULT_POLICY, MonitorStopError, decide, enforce, resolve_policy
from scientist.monitors.runscan import MonitorInputError, scan_run, scan_workspace

__all__ = [
    "DEFAULT_POLICY",
    "MONITORS",
    "SEVERITIES",
    "MonitorEvent",
    "MonitorInputError",
    "MonitorName",
    "MonitorStopError",
    "Severity",
    "decide",
    "enforce",
    "resolve_policy",
    "scan_diff",
    "scan_file_change",
    "scan_paper",
    "scan_run",
    "scan_sandbox_result",
    "scan_workspace",
    "worst",
]
