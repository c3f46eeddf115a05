"""Approval errors, importable without the pipeline's heavy dependencies (the CLI maps them to exit codes)."""

from __future__ import annotations

from scientist.errors import ExitCode, ScientistError


class ApprovalPendingError(ScientistError):
    """The run stopped at an approval gate; nothing runs until a human decides."""

    exit_code = ExitCode.WAITING_FOR_HUMAN


class ApprovalError(ScientistError):
    """An approval does not exist, was already decided, or the decision does not fit it."""
