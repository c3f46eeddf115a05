"""A third-party sandbox backend (the local backend under its own name) and selector (the shortest candidate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scientist.sandbox.bwrap import BwrapSandbox


class LabelledLocal(BwrapSandbox):
    """Isolates exactly as `local` does; results name this backend."""

    backend = "labelled-local"


def shortest(arg: str) -> Callable[[Any], float]:
    """Best-of-n selector factory: the candidate with the shortest text wins (no argument)."""
    return lambda value: -float(len(str(value)))
