"""Where experiment code runs: the `Sandbox` protocol, its limits and results, and `get_sandbox` to pick a backend.

The local backend is a host subprocess under rlimits and is NOT a security boundary; see `scientist.sandbox.local`.
"""

from scientist.sandbox.base import Limits, OutputFile, RunResult, Sandbox, get_sandbox

__all__ = ["Limits", "OutputFile", "RunResult", "Sandbox", "get_sandbox"]
