"""Errors a user can cause. The CLI prints them as one line (no traceback) and exits with `exit_code`.

Every message says what went wrong *and* what to do about it, because the reader is a researcher mid-run.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What `scientist`'s exit status means (README, "Exit codes"); scripts and studies branch on these."""

    OK = 0
    FAILED = 1  # a check failed: doctor, a flagged diff, a sandbox run that did not pass
    ERROR = 2  # a user-facing error (ScientistError): the message says what to do
    BUDGET_PAUSED = 3  # a USD/token/wall-time cap was reached: raise it and resume
    WAITING_FOR_HUMAN = 4  # an approval is pending: approve or reject, then resume
    MONITOR_STOPPED = 5  # a safety monitor's policy stopped the run: review the audit log's monitor events
    INTERRUPTED = 130  # Ctrl-C: the run is checkpointed


class ScientistError(Exception):
    """Base for user-facing errors: `str(err)` is the one-line message, `hint` the fix."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class HarnessStopError(ScientistError):
    """The harness ended the run at a deadline (a probe's shutdown or episode end), whatever the agent did."""


class ConfigError(ScientistError):
    """scientist.toml, an environment variable or a flag is invalid."""


class UnknownTemplateError(ScientistError):
    """The experiment template named does not exist."""


class UnknownModelError(ScientistError):
    """The model string names no provider litellm or scientist knows."""


class MissingAPIKeyError(ScientistError):
    """A hosted model was chosen but its API key is not set."""


class RunNotFoundError(ScientistError):
    """No run folder with that id."""


class CorruptRunError(ScientistError):
    """A run folder exists but its state or audit log cannot be read."""


class BudgetExceededError(ScientistError):
    """The next model call would pass the run's USD or token budget; the run stops cleanly and can resume."""

    exit_code = ExitCode.BUDGET_PAUSED


class ReplayMissError(ScientistError):
    """Replay mode found no recorded response for a request (never falls back to a live call)."""


class StructuredOutputError(ScientistError):
    """The model did not produce valid structured output within the repair-retry limit."""


class SchemaRejectedError(ScientistError):
    """The provider refused the structured-output request itself (HTTP 400): a setting to change, not a bad answer."""


class PricingUnknownError(ScientistError):
    """A USD budget was asked for with a model whose price is unknown, so the cap could never trigger."""


class ModelRuntimeError(ScientistError):
    """The embedded model runtime (llama-cpp-python or its weights) is missing or broken."""


class SandboxError(ScientistError):
    """The sandbox could not prepare or run an experiment (not: the experiment itself failed)."""
