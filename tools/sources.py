"""Which scholarly sources a command asks, in which order, each configured from the environment.

Kept apart from `scholarly` (the machinery every source imports) so the sources can import it without a cycle.
Defaults are the real documented hosts; `SCIENTIST_<SOURCE>_URL` points a source elsewhere (a mirror, a test server).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from typing import Any

from scientist.tools.crossref import Crossref
from scientist.tools.openalex import OpenAlex
from scientist.tools.scholarly import (
    DEFAULT_BUILD_ORDER,
    SOURCE_NAMES,
    ArxivSource,
    Source,
    SourceConfigError,
    Sources,
)
from scientist.tools.semantic_scholar import SemanticScholar


def source_order(value: str | Sequence[str] | None) -> list[str]:
    """Source names from a comma list or a sequence (`$SCIENTIST_LITERATURE_SOURCES`, else DEFAULT_BUILD_ORDER)."""
    if value is None:
        value = os.environ.get("SCIENTIST_LITERATURE_SOURCES") or ",".join(DEFAULT_BUILD_ORDER)
    items = value.split(",") if isinstance(value, str) else [part for item in value for part in item.split(",")]
    names = [item.strip().lower().replace("-", "_") for item in items if item.strip()]
    aliases = {"s2": "semantic_scholar", "semanticscholar": "semantic_scholar"}
    names = [aliases.get(name, name) for name in names]
    unknown = [name for name in names if name not in SOURCE_NAMES]
    if unknown or not names:
        raise SourceConfigError(
            f"unknown literature source(s): {', '.join(unknown) or '(none given)'}",
            hint=f"choose from {', '.join(SOURCE_NAMES)} (comma-separated, in the order to ask them)",
        )
    return list(dict.fromkeys(names))


def build_sources(
    names: Sequence[str] | str | None = None, *, fulltext: Collection[str] = (), **overrides: Any
) -> Sources:
    """`Sources` for the named sources, each configured from the environment (see `from_env` of each). `fulltext`
    names the sources whose open PDFs will be fetched: Semantic Scholar then also asks for `openAccessPdf`."""
    factories: dict[str, Callable[[], Source]] = {
        "arxiv": ArxivSource,
        "openalex": lambda: OpenAlex.from_env(**overrides),
        "semantic_scholar": lambda: SemanticScholar.from_env(
            **overrides, **({"open_access": True} if "semantic_scholar" in fulltext else {})
        ),
        "crossref": lambda: Crossref.from_env(**overrides),
    }
    threshold = _env_int("SCIENTIST_SOURCE_BREAKER_THRESHOLD", 3)
    return Sources([factories[name]() for name in source_order(names)], breaker_threshold=threshold)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return max(1, int(value))
    except ValueError as err:
        raise SourceConfigError(f"{name} must be a whole number, got {value!r}", hint="e.g. 3") from err
