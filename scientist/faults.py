"""Fault injection for crash tests: `SCIENTIST_FAULT_KILL_AT=before:<node>` makes the run SIGKILL itself there.

A deterministic kill -9 at a node boundary (a timed kill from outside would land anywhere in the next node). Unset
in normal use, where this is one environment lookup per node.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "SCIENTIST_FAULT_KILL_AT"


def kill_point(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
