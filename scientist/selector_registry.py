"""The registry of best-of-n selectors: the names a pool's candidates can be scored by ("first", "max_field:<name>",
"tournament", a plugin's), each a factory that takes the part after the colon and returns a scorer.

Why here, at the bottom of the layers rather than beside best-of-n in `scientist.measure.sampling` (which re-exports
all of it): the settings (`scientist.config`, below the services) check a stage's selector setting against these
names when they load, so a typo or a missing plugin is a config error listing the valid names before any model
call, and a plugin's selector is accepted without the config having to list it. Importing this module costs
nothing: a plugin's entry point is imported only when its name is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scientist.errors import ScientistError
from scientist.registry import Registry

Selector = Callable[[Any], float]
SelectorFactory = Callable[[str], Selector]


class UnknownSelectorError(ScientistError):
    """A selector name that is not in the registry, or one missing its argument."""


# A plugin selector is a SelectorFactory under the entry-point group `scientist.selector` (scientist.registry).
SELECTORS: Registry[SelectorFactory] = Registry("selector", error=UnknownSelectorError)
_USAGE: dict[str, str] = {}  # how each selector is written, for the list in errors ("max_field:<name>")
_POOL_SELECTORS: set[str] = set()


def register_selector(name: str, factory: SelectorFactory, usage: str | None = None, *, pool: bool = False) -> None:
    """Register `name` (used as "name" or "name:arg"); the factory gets the arg ("" if none) and returns a scorer.

    `pool=True`: the selector ranks the pool as a whole, through a `PoolRanker` its caller supplies (BestOfN's and
    `rescore`'s `ranker`); its scorer only gates eligibility."""
    if not name or ":" in name:
        raise ValueError(f"selector name must be non-empty and contain no ':', got {name!r}")
    SELECTORS.add(name, factory)
    _USAGE[name] = usage or name
    if pool:
        _POOL_SELECTORS.add(name)
    else:
        _POOL_SELECTORS.discard(name)


def ranks_pool(spec: str | Selector) -> bool:
    """Whether `spec` names a pool-level selector (one that needs a `ranker`, e.g. tournament)."""
    return isinstance(spec, str) and spec.partition(":")[0] in _POOL_SELECTORS


def selector_names() -> list[str]:
    return sorted(_USAGE.get(name, name) for name in SELECTORS.names())


def resolve_selector(spec: str | Selector) -> tuple[str, Selector]:
    """A (label, scorer) pair from a registry spec like "max_field:score", or from a callable `value -> float`."""
    if callable(spec):
        return getattr(spec, "__qualname__", repr(spec)), spec
    name, _, arg = spec.partition(":")
    if name not in SELECTORS:
        raise UnknownSelectorError(
            f"unknown selector {spec!r}", hint=f"valid selectors: {', '.join(selector_names())} or a callable"
        )
    return spec, SELECTORS.get(name)(arg)


def _field_value(value: Any, path: str) -> float:
    current = value
    for part in path.split("."):
        current = current[part] if isinstance(current, Mapping) else getattr(current, part)
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise TypeError(f"field {path!r} is {type(current).__name__}, not a number")
    return float(current)


def _field_selector(sign: float) -> SelectorFactory:
    def factory(path: str) -> Selector:
        if not path:
            raise UnknownSelectorError(
                "this selector needs a field name", hint="write it as max_field:<name> (dots reach nested fields)"
            )
        return lambda value: sign * _field_value(value, path)

    return factory


def _first(arg: str) -> Selector:
    if arg:
        raise UnknownSelectorError(f"selector 'first' takes no argument, got {arg!r}")
    return lambda value: 0.0  # every candidate ties, so the lowest index wins


def _pool_gate(name: str) -> SelectorFactory:
    def factory(arg: str) -> Selector:
        if arg:
            raise UnknownSelectorError(f"selector {name!r} takes no argument, got {arg!r}")
        return lambda value: 0.0  # eligibility only: the ranker's scores replace this one

    return factory


register_selector("first", _first, "first")
register_selector("max_field", _field_selector(1.0), "max_field:<name>")
register_selector("min_field", _field_selector(-1.0), "min_field:<name>")
# Pairwise comparisons by a model, rated by Bradley-Terry (measure.tournament); the ranker comes from the caller.
register_selector("tournament", _pool_gate("tournament"), "tournament", pool=True)
# Review forms by the review role's model, mean Overall per candidate (scientist.stages.reviewselect's ranker).
register_selector("reviewer", _pool_gate("reviewer"), "reviewer", pool=True)


def valid_names(*, own: Sequence[str] = (), pools: Sequence[str] = ()) -> list[str]:
    """How each usable selector is written: a caller's `own` names, then the registry's (plugins included), less the
    pool rankers the caller has no ranker for (`pools` are those it has)."""
    listed = [_USAGE.get(name, name) for name in SELECTORS.names() if name not in _POOL_SELECTORS or name in pools]
    return [*own, *sorted(listed)]


def check_selector(spec: str, *, own: Sequence[str] = (), pools: Sequence[str] = (), what: str = "selector") -> str:
    """`spec` when it names one of `own` (a caller's own scorers) or a registry selector that builds with its
    argument ("max_field" without a field fails here), a pool ranker only if it is one of `pools`; else an
    `UnknownSelectorError` listing the valid ones. Builds the scorer (a plugin's entry point is imported) and drops
    it: a settings check, before any candidate is drawn."""
    name, _, arg = spec.partition(":")
    if name in own and not arg:
        return spec
    if name in SELECTORS and (name not in _POOL_SELECTORS or name in pools):
        SELECTORS.get(name)(arg)  # the factory refuses a missing or unexpected argument
        return spec
    raise UnknownSelectorError(
        f"unknown {what} {spec!r}", hint=f"choose one of: {', '.join(valid_names(own=own, pools=pools))}"
    )
