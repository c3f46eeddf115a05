"""What a monitor reports: one `MonitorEvent` per finding, with a severity the policy engine acts on.

Events are plain pydantic models so they can go to the audit log (kind `monitor_event`), to JSON output for
scripts, and (when the run store lands) to its tables, without translation.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # lowest first: severity_rank is the index

MonitorName = Literal[
    "protected_files",  # edits, renames, chmod, symlinks or writes aimed at the template's protected files
    "limit_tampering",  # timeouts, rlimits, template.toml, yardstick constants, run-time monkey-patching
    "self_replication",  # subprocesses, fork/exec, daemons, cron/systemd, relaunching `scientist`
    "eval_gaming",  # test data, hard-coded metrics, seed special-casing, final_info.json without training
    "fabrication",  # numbers in a paper that no run produced
    "reviewer_manipulation",  # text in a draft aimed at an automated reviewer
    "resource_seeking",  # network, credentials, environment secrets, the Docker socket
    "obfuscation",  # code hidden in strings (exec/eval, base64, dynamic imports) so it cannot be read
    "input_integrity",  # the monitor could not analyse the input (unparsable, binary, huge): fail closed
]
MONITORS: tuple[MonitorName, ...] = get_args(MonitorName)  # in the order above (reports list monitors so)
Source = Literal["static", "dynamic", "paper", "input"]


def severity_rank(severity: Severity) -> int:
    return SEVERITIES.index(severity)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class MonitorEvent(BaseModel):
    """One finding: which monitor, how bad, what it saw (evidence) and where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    monitor: MonitorName
    severity: Severity
    rule: str = Field(description="Short id of the check that fired, e.g. 'subprocess_call'")
    evidence: str = Field(description="What was seen, quoted where possible (one line)")
    location: str | None = Field(default=None, description="file[:line] or artifact the evidence comes from")
    source: Source = "static"
    run_id: str | None = None
    node: str | None = None
    candidate: str | None = Field(default=None, description="Which candidate/sandbox run (e.g. 'baseline', 'variant')")
    time: str = Field(default_factory=_now)

    def at_least(self, severity: Severity) -> bool:
        return severity_rank(self.severity) >= severity_rank(severity)

    def key(self) -> tuple[str, str, str]:
        """Identity without position or time, to compare findings before and after an edit."""
        return (self.monitor, self.rule, self.evidence)


def worst(events: list[MonitorEvent]) -> Severity | None:
    """The highest severity among `events` (None when there are none)."""
    if not events:
        return None
    return max((event.severity for event in events), key=severity_rank)
