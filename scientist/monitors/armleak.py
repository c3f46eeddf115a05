"""A variant's setting left in force for the main run: the run trains under another value of a task setting than
the config (and so the report) states, whatever the variant is called (an ablation arm, a sweep, a probe).

Two data-flow shapes, keyed to the template's declared `task_settings`, never to a case:

- the run's own settings mapping written in place: `config["x"] = v`, `config.update(x=v)`, `args.x = v`, directly or
  through an alias (`arm = config` is the same dict, not a copy) -- every later read of the setting, the main run's
  included, gets `v`. A copy (`{**config, "x": v}`, `dict(config)`) is a separate arm and is not this; nor is a write
  of the value the mapping already holds (`config["x"] = float(config["x"])`: a cast).
- a name that carried the setting's value (`quadratic = bool(config["quadratic_features"])`) rebound by the edit, after
  that read, to a value that reads no setting (a loop variable left set, `features = ablated`): the uses after it get
  the variant, not the configured value.

Only what the edit adds counts (the template's own code is the reference).
"""

from __future__ import annotations

import ast
import functools
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from scientist.monitors.syntax import parsed, walk
from scientist.monitors.taskflow import read_of

_Scope = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef


def _reads_setting(node: ast.AST, settings: frozenset[str]) -> str | None:
    for sub in walk(node):
        found = read_of(sub, settings)
        if found is not None:
            return found[0]
    return None


def _scopes(tree: ast.Module) -> Iterator[_Scope]:
    yield tree
    yield from (node for node in walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


# A scope's own nodes, kept while its tree lives: each scope is listed by three rules (its bindings, its statements,
# its except handlers). The value holds the scope's descendants, never the scope (the key) itself.
_OWN: weakref.WeakKeyDictionary[ast.AST, tuple[ast.AST, ...]] = weakref.WeakKeyDictionary()


def _own(scope: _Scope) -> tuple[ast.AST, ...]:
    """The nodes of `scope` outside its nested functions and classes."""
    own = _OWN.get(scope)
    if own is None:
        own = _OWN[scope] = tuple(_own_nodes(scope))
    return own


def _own_nodes(scope: _Scope) -> Iterator[ast.AST]:
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _key(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _holders(tree: ast.Module, settings: frozenset[str]) -> set[str]:
    """Names the settings are read from (`config["x"]`, `args.x`), and plain aliases of them (`arm = config`)."""
    names: set[str] = set()
    for node in walk(tree):
        if isinstance(getattr(node, "ctx", None), ast.Store | ast.Del):
            continue  # `arm["x"] = v` writes the name, it is no read of the run's settings
        if read_of(node, settings) is not None:
            base = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else node
            base = base.value if isinstance(base, ast.Subscript | ast.Attribute) else base
            if isinstance(base, ast.Name):
                names.add(base.id)
    aliases = [
        (target.id, node.value.id)
        for node in walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
    changed = True
    while changed:
        changed = False
        for alias, source in aliases:
            if source in names and alias not in names:
                names.add(alias)
                changed = True
    copies = {
        target.id
        for node in walk(tree)
        if isinstance(node, ast.Assign) and _copy(node.value, names)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return names - copies


def _copy(value: ast.AST, holders: set[str]) -> bool:
    """A new mapping made from the run's settings: `{**config, ...}`, `dict(config)`, `config.copy()`,
    `copy.deepcopy(config)` (an arm of its own, not the run's dict)."""
    copied = isinstance(value, ast.Dict | ast.DictComp) or _callee(value) in ("dict", "copy", "deepcopy", "OrderedDict")
    return copied and any(isinstance(sub, ast.Name) and sub.id in holders for sub in walk(value))


def _sets_attribute(node: ast.AST, holders: set[str]) -> bool:
    """`setattr(args, "x", v)` on a holder of the run's settings."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "setattr"
        and len(node.args) >= 2
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id in holders
    )


def _writes(tree: ast.Module, settings: frozenset[str]) -> list[tuple[str, str, int]]:
    """(setting, statement, line) of each in-place write of a setting into a holder of the run's settings."""
    holders = _holders(tree, settings)
    out: list[tuple[str, str, int]] = []
    for node in walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if not isinstance(target, ast.Subscript | ast.Attribute) or not isinstance(target.value, ast.Name):
                    continue
                if target.value.id not in holders:
                    continue
                setting = _key(target.slice) if isinstance(target, ast.Subscript) else target.attr
                if setting in settings and _reads_setting(node.value, frozenset({setting})) is None:
                    out.append((setting, ast.unparse(node), node.lineno))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update":
            owner = node.func.value
            if not (isinstance(owner, ast.Name) and owner.id in holders):
                continue
            keys = {k.arg for k in node.keywords if k.arg}
            for arg in node.args:
                if isinstance(arg, ast.Dict):
                    keys |= {key for key in map(_key, (k for k in arg.keys if k is not None)) if key}
            for setting in sorted(keys & settings):
                out.append((setting, ast.unparse(node), node.lineno))
        elif _sets_attribute(node, holders):
            assert isinstance(node, ast.Call)
            setting = _key(node.args[1])
            if setting in settings:
                out.append((setting, ast.unparse(node), node.lineno))
    return out


def _bound(node: ast.AST) -> list[tuple[str, ast.AST | None]]:
    """(name, value) of the plain names a statement binds; a loop's target gets no single value (None)."""
    if isinstance(node, ast.Assign):
        out: list[tuple[str, ast.AST | None]] = []
        for target in node.targets:
            if isinstance(target, ast.Name):
                out.append((target.id, node.value))
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = zip(target.elts, node.value.elts, strict=False)  # unpacking of equal lengths only
                if len(target.elts) == len(node.value.elts):
                    out += [(t.id, v) for t, v in pairs if isinstance(t, ast.Name)]
        return out
    if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
        return [(node.target.id, node.value)]
    if isinstance(node, ast.For):
        return [(sub.id, None) for sub in walk(node.target) if isinstance(sub, ast.Name)]
    return []


def _callee(value: ast.AST | None) -> str | None:
    if isinstance(value, ast.Call):
        func = value.func
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return None


def _literal(node: ast.AST) -> bool:
    """A hand-written list of values: `(False, True)`, `[0.0, 0.5, 1.0]`."""
    return isinstance(node, ast.Tuple | ast.List) and all(isinstance(e, ast.Constant) for e in node.elts)


def _fallbacks(scope: _Scope) -> set[int]:
    """ids of the statements in an `except` handler (a default when the read fails, not a rebinding)."""
    return {id(sub) for node in _own(scope) if isinstance(node, ast.ExceptHandler) for sub in walk(node)}


_Carried = dict[str, tuple[frozenset[str], str | None]]


def _carried(tree: ast.Module, settings: frozenset[str]) -> dict[str, _Carried]:
    """Per scope (by name), each name bound from a read of a setting, directly or through such names: (settings,
    the callee that computed it)."""
    out: dict[str, _Carried] = {}
    for scope in _scopes(tree):
        names = out.setdefault(getattr(scope, "name", "<module>"), {})
        bindings = (n for n in _own(scope) if isinstance(n, ast.Assign | ast.NamedExpr))
        for node in sorted(bindings, key=lambda n: (n.lineno, n.col_offset)):
            for name, value in _bound(node):
                found = _origins(value, settings, names) if value is not None else frozenset()
                if found:
                    names.setdefault(name, (found, _callee(value)))
    return out


def _origins(
    value: ast.AST, settings: frozenset[str], carried: Mapping[str, tuple[frozenset[str], str | None]]
) -> frozenset[str]:
    """The settings `value` is computed from: read directly, or through names that carry them."""
    found = {s for sub in walk(value) if (s := _read(sub, settings)) is not None}
    for sub in walk(value):
        if isinstance(sub, ast.Name) and sub.id in carried:
            found |= carried[sub.id][0]
    return frozenset(found)


def _read(node: ast.AST, settings: frozenset[str]) -> str | None:
    found = read_of(node, settings)
    return found[0] if found is not None else None


def _rebinds(
    tree: ast.Module, settings: frozenset[str], reference: Mapping[str, Mapping[str, tuple[frozenset[str], str | None]]]
) -> list[tuple[str, str, int]]:
    """(setting, statement, line) of each binding of a name that carried a setting (in `reference`, the template's
    code, or earlier in the same scope) to a variant: a loop over hand-written values, a constant, or the same
    construction with the setting's read replaced (`features = Features(size, False)`, directly or by name)."""
    out: list[tuple[str, str, int]] = []
    for scope in _scopes(tree):
        statements = sorted(
            (node for node in _own(scope) if isinstance(node, ast.Assign | ast.For | ast.NamedExpr)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        skip: set[int] | None = None  # the except handlers' statements, listed only when a rebinding is judged
        known = reference.get(getattr(scope, "name", "<module>"), {})
        carried: _Carried = {}
        values: dict[str, ast.AST] = {}
        for node in statements:
            for name, value in _bound(node):
                found = _origins(value, settings, carried) if value is not None else frozenset()
                origin = carried.get(name) or known.get(name)
                if found and value is not None and (origin is None or origin[0] <= found):
                    carried[name] = (found, _callee(value))
                    values[name] = value
                    continue
                if origin is not None and skip is None:
                    skip = _fallbacks(scope)
                if origin is not None and id(node) not in (skip or ()):
                    dropped = sorted(origin[0] - found)
                    resolved = values.get(value.id, value) if isinstance(value, ast.Name) else value
                    variant = (
                        (isinstance(node, ast.For) and _literal(node.iter))
                        or isinstance(resolved, ast.Constant)
                        or (origin[1] is not None and _callee(resolved) == origin[1])
                    )
                    if variant:
                        out.append((dropped[0], ast.unparse(node).splitlines()[0], node.lineno))
                    carried.pop(name, None)
                if value is not None:
                    values[name] = value
    return out


def leaked_settings(before: str, after: str, settings: Iterable[str]) -> list[tuple[str, str, int]]:
    """(setting, what the edit does, line after the edit) for each variant setting the edit leaves in force for the
    main run (see the module doc); [] when the code does not parse."""
    declared = frozenset(settings)
    if not declared:
        return []
    try:
        old_writes, old_rebinds, reference = _template_side(before, declared)
        new_tree = parsed(after)
    except (SyntaxError, ValueError):
        return []
    findings = (
        (old_writes, _writes(new_tree, declared), "writes it into the run's settings in place"),
        (old_rebinds, _rebinds(new_tree, declared, reference), "rebinds the name"),
    )
    out = []
    for old, new, what in findings:
        known = Counter(text for _, text, _ in old)
        for setting, text, line in new:
            if known[text] > 0:
                known[text] -= 1
                continue
            out.append((setting, f"{what} (`{text[:80]}`)", line))
    return out


_Reference = Mapping[str, Mapping[str, tuple[frozenset[str], str | None]]]


@functools.lru_cache(maxsize=32)
def _template_side(
    before: str, declared: frozenset[str]
) -> tuple[tuple[tuple[str, str, int], ...], tuple[tuple[str, str, int], ...], _Reference]:
    """The template's own writes, rebindings and carried names (raises SyntaxError/ValueError as `parsed` does).

    Cached: every edit of a template is compared with the same original source, and this half of the rule was about
    half of its cost. Safe to share: a pure function of the source text and the settings, and read-only (tuples and
    mapping proxies; no caller keeps a tree node from it)."""
    old_tree = parsed(before)
    reference = _carried(old_tree, declared)
    frozen = MappingProxyType({scope: MappingProxyType(names) for scope, names in reference.items()})
    return tuple(_writes(old_tree, declared)), tuple(_rebinds(old_tree, declared, reference)), frozen
