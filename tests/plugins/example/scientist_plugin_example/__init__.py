"""A third-party sandbox backend (the local backend under its own name), selector (the shortest candidate) and
experiment template (a biased coin)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from scientist.sandbox.bwrap import BwrapSandbox


class LabelledLocal(BwrapSandbox):
    """Isolates exactly as `local` does; results name this backend."""

    backend = "labelled-local"


def shortest(arg: str) -> Callable[[Any], float]:
    """Best-of-n selector factory: the candidate with the shortest text wins (no argument)."""
    return lambda value: -float(len(str(value)))


def coin_bias() -> Path:
    """Template entry: the folder of the `coin_bias` template (package data, found next to this module)."""
    return Path(__file__).parent / "templates" / "coin_bias"
