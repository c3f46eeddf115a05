"""Best-of-n with monitors: a flagged candidate is never silently the winner.

`monitored_selector` wraps any selector: it scans each candidate first and, under the default `exclude` policy,
refuses to score one with an event at or above `threshold`. `BestOfN` records that refusal as the candidate's
error (`selector: FlaggedCandidateError: ...`), so the candidate stays in the pool — reported, with the evidence —
and cannot win. `allow` scores flagged candidates normally (for studies of how often gaming would win).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from scientist.measure.sampling import Selector, resolve_selector
from scientist.monitors.events import MonitorEvent, Severity, severity_rank

FlaggedPolicy = Literal["exclude", "allow"]


class FlaggedCandidateError(Exception):
    """A monitor flagged this candidate; the message names the worst event."""


def monitored_selector(
    selector: str | Selector,
    scan: Callable[[Any], list[MonitorEvent]],
    *,
    threshold: Severity = "high",
    policy: FlaggedPolicy = "exclude",
) -> Selector:
    """`selector`, but candidates that `scan` flags at `threshold` or worse are excluded (policy `exclude`)."""
    _, score = resolve_selector(selector)
    if policy == "allow":
        return score

    def guarded(value: Any) -> float:
        flagged = [event for event in scan(value) if event.at_least(threshold)]
        if flagged:
            worst = max(flagged, key=lambda event: severity_rank(event.severity))
            monitors = ", ".join(sorted({event.monitor for event in flagged}))
            raise FlaggedCandidateError(
                f"excluded by monitors ({monitors}): {worst.monitor}/{worst.rule} ({worst.severity}): {worst.evidence}"
            )
        return score(value)

    return guarded
