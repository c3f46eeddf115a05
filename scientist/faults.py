"""Fault injection for crash tests: `SCIENTIST_FAULT_KILL_AT=before:<node>` makes the run SIGKILL itself there.

A deterministic kill -9 at a node boundary (a timed kill from outside would land anywhere in the next node). With
`SCIENTIST_FAULT_ONCE=<file>` only the first process to get there dies (it creates the file first): a retried task
or a resumed run then goes past the point, as after a real crash. Unset in normal use, where this is one environment
lookup per node.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "SCIENTIST_FAULT_KILL_AT"
ONCE_ENV = "SCIENTIST_FAULT_ONCE"


def kill_point(point: str) -> None:
    if os.environ.get(FAULT_ENV) != point:
        return
    marker = os.environ.get(ONCE_ENV)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
