"""A wrapper put around one of the template's functions that changes what passes through it: the decorator is applied
far from where it acts, so every call of the function (training's included) gets the change while the function's
own code, and the config, look untouched.

Read as data flow inside the wrapper (a nested function that calls the wrapped callable, returned by the decorator):

- the wrapped call given a task setting other than the configured one (`fn(..., {**config, "x": 0.0}, ...)`,
  directly or through a name bound to such a copy): the function runs under a variant of the task;
- the wrapped call given arithmetic on one of the wrapper's own parameters (`_load(20 * n_pairs, seed)`): it runs
  on another amount of data or another value than the caller (and the config) asked for;
- the wrapped call's result (or what is computed from it) written at positions the code chooses (`phi[:k] = 0`,
  `scale[-1] = 1 / 8` on an array built from the result): the function's output edited by hand.

An override in a class derived from one of the template's classes counts too (its `super()` call is the wrapped
one). A replacement counts like a decorator: a def that takes the name of a template function or of a name the template
imports, after the original was saved under another name (`_load = load_preferences`).

A wrapper that times, counts, logs, caches, converts (`np.array(fn(...), dtype=float)`) or checks and raises
passes the arguments and the result through and is not this. Only wrappers applied to a function the template's
code defines count (`@deco` on it, `name = deco(name)`, `Class.method = deco(Class.method)`), and only what the
edit adds.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable, Mapping, Set
from types import MappingProxyType
from typing import NamedTuple

from scientist.monitors.syntax import loaded_names, parsed, propagate, root_name, walk
from scientist.monitors.taskflow import read_of

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _defined(tree: ast.Module) -> set[str]:
    return {node.name for node in walk(tree) if isinstance(node, _Function)}


def _last_name(node: ast.AST) -> str | None:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None


def _applied(tree: ast.Module, template_defs: Set[str]) -> set[str]:
    """Names of decorators the code applies to a function the template defines."""
    out: set[str] = set()
    for node in walk(tree):
        if isinstance(node, _Function) and node.name in template_defs:
            out |= {name for dec in node.decorator_list if (name := _last_name(dec)) is not None}
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
            wrapped = _last_name(node.value.args[0])
            name = _last_name(node.value.func)
            if wrapped in template_defs and name is not None:
                out.add(name)
    return out


def _wrappers(decorator: _Function) -> list[tuple[_Function, str]]:
    """(inner function, wrapped parameter) of each nested function of `decorator` that calls its parameter."""
    params = {arg.arg for arg in decorator.args.args}
    out = []
    for inner in walk(decorator):
        if inner is decorator or not isinstance(inner, _Function):
            continue
        for call in walk(inner):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in params:
                out.append((inner, call.func.id))
                break
    return out


def _variant_copy(node: ast.AST, settings: frozenset[str]) -> str | None:
    """The task setting a `{**mapping, "x": v}` / `dict(mapping, x=v)` copy sets (to a value that reads no setting)."""
    if isinstance(node, ast.Dict) and None in node.keys:
        for key, value in zip(node.keys, node.values, strict=True):
            fixed = not any(read_of(sub, settings) for sub in walk(value))
            if isinstance(key, ast.Constant) and key.value in settings and fixed:
                return str(key.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        for keyword in node.keywords:
            if keyword.arg in settings and not any(read_of(sub, settings) for sub in walk(keyword.value)):
                return keyword.arg
    return None


def _rescaled(arg: ast.AST, params: set[str]) -> bool:
    """Arithmetic on one of the wrapper's own parameters (`20 * n_pairs`): the wrapped call gets another value."""
    return any(
        isinstance(sub, ast.BinOp) and loaded_names(sub) & params and not isinstance(sub.op, ast.MatMult)
        for sub in walk(arg)
    )


def _shadows(tree: ast.Module, template_names: Set[str]) -> list[tuple[_Function, str]]:
    """(def, saved original) of each def that takes the name of a template function or of a name the template
    imports, after the original was saved under another name (`_load = load_preferences`)."""
    saved = {
        node.value.id: target.id
        for node in walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in template_names
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return [(node, saved[node.name]) for node in walk(tree) if isinstance(node, _Function) and node.name in saved]


def _imported(tree: ast.Module) -> set[str]:
    return {
        alias.asname or alias.name.split(".")[0]
        for node in walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def _calls_name(name: str) -> Callable[[ast.AST], bool]:
    return lambda node: isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _calls_super(node: ast.AST) -> bool:
    """`super().method(...)`: the overridden method of the template's class."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
    )


def _overrides(tree: ast.Module, template_classes: Set[str]) -> list[_Function]:
    """Methods of a class derived from one of the template's classes (a `super()` call is the wrapped one)."""
    out = []
    for node in walk(tree):
        if not isinstance(node, ast.ClassDef) or node.name in template_classes:
            continue
        if any(_last_name(base) in template_classes for base in node.bases):
            out += [item for item in node.body if isinstance(item, _Function)]
    return out


def _findings(inner: _Function, wrapped: Callable[[ast.AST], bool], settings: frozenset[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    variants: dict[str, str] = {}
    edges: list[tuple[set[str], set[str]]] = []
    results: set[str] = set()
    for node in walk(inner):
        if isinstance(node, ast.Assign):
            names = {name for t in node.targets for name in (root_name(sub) for sub in walk(t)) if name}
            setting = _variant_copy(node.value, settings)
            if setting is not None:
                variants.update(dict.fromkeys(names, setting))
            calls_wrapped = any(wrapped(sub) for sub in walk(node.value))
            if calls_wrapped:
                results |= names
            edges.append((names, loaded_names(node.value)))
        if isinstance(node, ast.Call) and wrapped(node):
            params = {a.arg for a in inner.args.args} - {"self", "cls"}
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if _rescaled(arg, params):
                    out.append((f"calls it with `{ast.unparse(arg)[:60]}` instead of the argument it got", node.lineno))
                setting = _variant_copy(arg, settings) or (variants.get(arg.id) if isinstance(arg, ast.Name) else None)
                if setting is not None:
                    out.append((f"runs it with the task setting {setting!r} changed", node.lineno))
    derived = propagate(edges, results) if results else set()
    for node in walk(inner):
        if not isinstance(node, ast.Assign | ast.AugAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if not isinstance(target, ast.Subscript) or root_name(target) not in derived:
                continue
            index = target.slice
            if any(isinstance(sub, ast.Compare | ast.BoolOp) for sub in walk(index)) or loaded_names(index) & derived:
                continue  # a position the values choose
            out.append((f"writes `{ast.unparse(target)}` into its result by hand", node.lineno))
    return out


class _TemplateSide(NamedTuple):
    """What `altered_by_wrapper` reads of the template's original source (immutable: frozensets, a mapping proxy)."""

    defs: frozenset[str]  # the functions the template defines
    applied: frozenset[str]  # the decorators it applies to them
    names: frozenset[str]  # its functions and imported names
    shadows: frozenset[tuple[str, str]]  # (def, saved original) of its own shadowing defs
    classes: frozenset[str]
    methods: Mapping[str, int]  # its overriding methods' dumps, counted


@functools.lru_cache(maxsize=32)
def _template_side(before: str) -> _TemplateSide:
    """The template side of `altered_by_wrapper` (raises SyntaxError/ValueError as `parsed` does). Cached: every
    edit of a template is compared with the same original source; a pure function of its text."""
    tree = parsed(before)
    defs = frozenset(_defined(tree))
    names = defs | _imported(tree)
    classes = frozenset(node.name for node in walk(tree) if isinstance(node, ast.ClassDef))
    methods: dict[str, int] = {}
    for method in _overrides(tree, classes):
        methods[ast.dump(method)] = methods.get(ast.dump(method), 0) + 1
    return _TemplateSide(
        defs,
        frozenset(_applied(tree, defs)),
        names,
        frozenset((node.name, alias) for node, alias in _shadows(tree, names)),
        classes,
        MappingProxyType(methods),
    )


def altered_by_wrapper(before: str, after: str, settings: Iterable[str]) -> list[tuple[str, int]]:
    """(what the wrapper does, line after the edit) for each change a new wrapper makes to what passes through a
    template function (see the module doc); [] when the code does not parse."""
    try:
        old = _template_side(before)
        new_tree = parsed(after)
    except (SyntaxError, ValueError):
        return []
    template_defs = old.defs
    applied = _applied(new_tree, template_defs) - old.applied
    declared = frozenset(settings)
    out = []
    names = old.names
    for node, alias in _shadows(new_tree, names):
        if (node.name, alias) not in old.shadows:
            found = _findings(node, _calls_name(alias), declared)
            out += [(f"the replacement of {node.name!r} {what}", line) for what, line in found]
    classes = old.classes
    for method in _overrides(new_tree, classes):
        if old.methods.get(ast.dump(method), 0) > 0:
            continue
        found = _findings(method, _calls_super, declared)
        out += [(f"the override {method.name!r} {what}", line) for what, line in found]
    for decorator in walk(new_tree):
        if isinstance(decorator, _Function) and decorator.name in applied and decorator.name not in template_defs:
            for inner, wrapped in _wrappers(decorator):
                found = _findings(inner, _calls_name(wrapped), declared)
                out += [(f"the wrapper {decorator.name!r} {what}", line) for what, line in found]
    return out
