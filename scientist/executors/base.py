"""The executor contract: map a picklable function over items, yielding each result as it finishes.

Why a contract of its own rather than `concurrent.futures`: a Ray cluster loses workers, so a task can end in
neither a value nor an exception of the function (its worker died more often than the retries allow). `Done`
carries that as `error`, and callers record it instead of crashing the whole study.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from scientist.errors import ScientistError

T = TypeVar("T")
R = TypeVar("R")


class ExecutorError(ScientistError):
    """The executor cannot be used as asked (unknown name, Ray missing or unreachable, bad concurrency)."""


@dataclass
class Done(Generic[R]):
    """One finished task: `value` when the function returned, else `error` (one line: its exception or the crash)."""

    index: int
    value: R | None = None
    error: str | None = None


def settings_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's SCIENTIST_* variables, which tasks elsewhere get so a cell runs with the driver's settings.

    Secrets are deliberately not among them (provider API keys, SCIENTIST_API_KEY, the web token: any name
    `audit.is_secret_name` calls a credential): they would travel in every task's arguments, where Ray keeps and
    shows them; nor is a value holding a URL with a password (SCIENTIST_DB=postgresql://user:password@...). Workers
    read them from their own environment: a local Ray instance inherits the driver's; on a cluster, set them on
    the nodes (docs/ray.md).
    """
    import os

    from scientist.audit.log import is_secret_name

    source = os.environ if environ is None else environ
    return {
        name: value for name, value in source.items()
        if name.startswith("SCIENTIST_") and not is_secret_name(name) and not carries_credentials(value)
    }


# scheme://user:password@host: a URL with a password in it (SCIENTIST_DB=postgresql://u:pw@host/db, a proxy URL).
_CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#@\s:]*:[^/?#@\s]+@", re.IGNORECASE)


def carries_credentials(value: str) -> bool:
    """Whether a setting's value holds a URL with a password, which must not travel in task arguments either."""
    return bool(_CREDENTIAL_URL.search(value))


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0]


class Executor(ABC):
    """Runs tasks; `stopping` is set once the caller gave up (Ctrl-C, an error), so long tasks can stop early."""

    name: str = "executor"
    in_process: bool = True  # tasks share this process (callbacks and open stores can be passed to them)

    def __init__(self) -> None:
        self.stopping = threading.Event()

    @abstractmethod
    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Generator[Done[R], None, None]:
        """Run `fn(item)` for every item; yield in completion order. `fn` raising an Exception gives `Done.error`;
        KeyboardInterrupt stops the map (queued tasks are dropped, running ones asked to stop) and propagates."""

    def close(self) -> None:  # noqa: B027 (most executors hold nothing to release)
        """Release what the executor started (a local Ray instance); idempotent."""

    def describe(self) -> str:
        return self.name

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
