"""Where experiment code runs: the `Sandbox` protocol, its limits and results, and `get_sandbox` to pick a backend.

Backends: `docker` (the default) and `local` (bubblewrap) isolate; `unsafe-subprocess` is a host subprocess under
rlimits, NOT a security boundary, only ever chosen by that name (see `scientist.sandbox.unsafe`).
"""

from scientist.sandbox.base import (
    CHOICES,
    Limits,
    OutputFile,
    RunResult,
    Sandbox,
    SandboxChoice,
    copy_in,
    get_sandbox,
    open_sandbox,
    record_choice,
)

__all__ = [
    "CHOICES",
    "Limits",
    "OutputFile",
    "RunResult",
    "Sandbox",
    "SandboxChoice",
    "copy_in",
    "get_sandbox",
    "open_sandbox",
    "record_choice",
]
