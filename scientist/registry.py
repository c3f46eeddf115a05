"""One way to name the interchangeable parts of scientist (sandbox backends, executors, templates...): a `Registry`.

Why one class: each kind used to have its own (a dict of module-path strings, an if/elif, a dict of factories), each
with its own error for an unknown name and none open to code outside the project. A registry holds, per name,
either the object itself or a lazy `"module:attr"` target (so choosing `local` never imports the Docker SDK), and
finds third-party plugins through the entry-point group `scientist.<kind>` (a package declares
`[project.entry-points."scientist.sandbox"] name = "package.module:Class"`), loaded only when a name is not one of
the project's own. An unknown name is a `ScientistError` that lists the valid names.

Plugins run with the harness's rights, like any installed package; a plugin sandbox backend that does not isolate
must say so (`isolated = False`), and the run's audit log then records it as `sandbox_unisolated`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from scientist.errors import ScientistError

T = TypeVar("T")
ENTRY_POINT_PREFIX = "scientist."


class UnknownNameError(ScientistError):
    """A name no registry entry (nor any installed plugin) has."""


class PluginError(ScientistError):
    """A registry target (a project module or a plugin's entry point) could not be imported."""


class Registry(Generic[T]):
    """Named entries of one kind: objects, or lazy "module:attr" targets resolved on first use.

    `hidden` names resolve but are not listed (an old name kept so recorded configs still load)."""

    def __init__(
        self,
        kind: str,
        *,
        error: type[ScientistError] = UnknownNameError,
        what: str | None = None,
        hint: str = "choose one of: {names}",
    ) -> None:
        self.kind = kind
        self.group = ENTRY_POINT_PREFIX + kind
        self._error = error
        self._what = what or kind
        self._hint = hint  # "{names}" is the listed names; a kind keeps the wording its users and tests know
        self._entries: dict[str, T | str] = {}
        self._hidden: set[str] = set()
        self._origins: dict[str, str] = {}
        self._plugins_loaded = False

    def add(self, name: str, target: T | str, *, hidden: bool = False) -> None:
        """Register `target` (the object, or "module:attr") under `name`; a second registration replaces the first."""
        self._entries[name] = target
        if hidden:
            self._hidden.add(name)

    def register(self, name: str, *, hidden: bool = False) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorate(target: T) -> T:
            self.add(name, target, hidden=hidden)
            return target

        return decorate

    def names(self) -> list[str]:
        """The listed names: the project's own, then installed plugins', in registration order."""
        self._load_plugins()
        return [name for name in self._entries if name not in self._hidden]

    def origin(self, name: str) -> str | None:
        """The distribution that installed `name` as a plugin, or None for the project's own entries."""
        self._load_plugins()
        return self._origins.get(name)

    def __contains__(self, name: object) -> bool:
        if name in self._entries:
            return True
        self._load_plugins()
        return name in self._entries

    def get(self, name: str) -> T:
        """The entry called `name`, imported on first use; an unknown name lists the valid ones."""
        if name not in self:
            raise self.unknown(name)
        target = self._entries[name]
        if isinstance(target, str):
            target = self._import(name, target)
            self._entries[name] = target
        return target

    def unknown(self, name: str) -> ScientistError:
        """This kind's error for a name it does not have (raised by `get`; a caller that rejects a name earlier,
        e.g. one that is not a valid name at all, raises it too, so both read the same)."""
        return self._error(
            f"unknown {self._what} {name!r}", hint=self._hint.format(names=", ".join(self.names()) or "none")
        )

    def _import(self, name: str, target: str) -> T:
        module_name, _, attr = target.partition(":")
        try:
            found: T = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise PluginError(
                f"{self._what} {name!r} ({target}) cannot be loaded: {type(err).__name__}: {err}",
                hint=f"reinstall the package that provides it, or choose one of: {', '.join(self.names())}",
            ) from err
        return found

    def _load_plugins(self) -> None:
        """Entry points of `scientist.<kind>` from installed packages, once; never over the project's own names."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for point in entry_points(group=self.group):
            if point.name in self._entries:
                continue
            self._entries[point.name] = point.value
            self._origins[point.name] = point.dist.name if point.dist is not None else point.module
