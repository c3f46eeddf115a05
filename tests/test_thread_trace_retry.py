"""tests/conftest.py's shim for CPython 3.11's spurious settrace error (python/cpython#98257): a thread whose tracer
installation raises once still runs. Without the shim the thread dies before its target (seen in CI: a sandbox's
log reader, so the run looked silent)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest


def test_a_thread_whose_tracer_installation_fails_once_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []
    real_settrace = sys.settrace

    def settrace_busy_once(function: Any) -> None:
        if not attempts:
            attempts.append("raised")
            raise RuntimeError("Cannot install a trace function while another trace function is being installed")
        attempts.append("installed")
        real_settrace(function)

    def hook(frame: Any, event: str, arg: Any) -> None:
        return None

    previous = threading.gettrace()
    monkeypatch.setattr(sys, "settrace", settrace_busy_once)
    threading.settrace(hook)
    ran: list[bool] = []
    try:
        thread = threading.Thread(target=lambda: ran.append(True))
        thread.start()
        thread.join(10)
    finally:
        threading.settrace(previous)  # type: ignore[arg-type]
    assert ran == [True]
    assert attempts == ["raised", "installed"]
