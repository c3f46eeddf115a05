"""One parse and one node list per source for a whole diff scan.

Why: each monitor rule reads the same before/after sources on its own, and a corpus evaluation spent ~20 % of its
time in `ast.parse` of sources already parsed and ~35 % re-walking the same module trees (`ast.walk`). The trees
handed out here are shared, so callers must treat them as read-only (the rules that rewrite code work on copies:
evalslice and evalrewrite re-parse or deep-copy before transforming)."""

from __future__ import annotations

import ast
import functools
import itertools
import weakref
from collections.abc import Iterable, Sequence

_PARSED_SOURCES = 256  # a corpus case reads a handful of sources; a scan of a run's workspace a few dozen
_CACHED_SOURCE_CHARS = 1_000_000  # a bigger (hostile) source is parsed each time, never held: memory stays bounded
# A tree's descendants (not the tree itself: a value holding its key would keep every walked tree alive forever).
_WALKED: weakref.WeakKeyDictionary[ast.AST, tuple[ast.AST, ...]] = weakref.WeakKeyDictionary()
_CACHED_WALKS = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)  # walked again and again


def parsed(source: str) -> ast.Module:
    """`ast.parse(source)`, shared by every caller with the same text (raises SyntaxError/ValueError the same way:
    a failed parse is not cached)."""
    return _parsed(source) if len(source) <= _CACHED_SOURCE_CHARS else ast.parse(source)


@functools.lru_cache(maxsize=_PARSED_SOURCES)
def _parsed(source: str) -> ast.Module:
    return ast.parse(source)


def walk(node: ast.AST) -> Iterable[ast.AST]:
    """`ast.walk(node)` (the same nodes, the same order); a module's, class's or function's list is kept while the
    tree lives, since the rules walk those whole trees many times."""
    if not isinstance(node, _CACHED_WALKS):
        return _breadth_first(node)
    below = _WALKED.get(node)
    if below is None:
        below = _WALKED[node] = tuple(_breadth_first(node)[1:])
    return itertools.chain((node,), below)


def _breadth_first(node: ast.AST) -> list[ast.AST]:
    """`list(ast.walk(node))`, about a third faster: a list read while it grows instead of a deque of generators
    (`ast.iter_child_nodes` over `ast.iter_fields` was the single largest cost of a corpus evaluation)."""
    nodes = [node]
    append = nodes.append
    for current in nodes:  # a list iterator also yields what is appended during the loop: breadth-first order
        for name in current._fields:
            value = getattr(current, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        append(item)
            elif isinstance(value, ast.AST):
                append(value)
    return nodes


def parent_map(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    """Each node under `tree` -> the node it hangs from (for rules that look up from a use to its context). Built
    per call, not cached: a value holding its key's tree would keep the tree alive (see `_WALKED`)."""
    return {child: parent for parent in walk(tree) for child in ast.iter_child_nodes(parent)}


def loaded_names(node: ast.AST) -> set[str]:
    """The names an expression reads (`Load` context): what its value is computed from."""
    return {sub.id for sub in walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}


def root_name(target: ast.AST) -> str | None:
    """The variable at the root of `x.a[0].b` (`x`), or None when the root is not a name (`f()[0]`)."""
    while isinstance(target, ast.Subscript | ast.Attribute):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def propagate(edges: Sequence[tuple[set[str], set[str]]], seeds: Iterable[str]) -> set[str]:
    """The seed names and every name an edge `(assigned, read)` binds from one of them, through any chain (a fixed
    point: the order of the edges does not matter). Why one helper: the rules that follow derived names (learned
    parameters, task data) must agree on what "computed from" means."""
    derived = set(seeds)
    changed = True
    while changed:
        changed = False
        for names, reads in edges:
            if reads & derived and not names <= derived:
                derived |= names
                changed = True
    return derived
