"""A configured zero read through a falsy fallback: `config.get("kl_coef") or 0.5`.

Why: `or` treats 0 and 0.0 as "unset", so a setting whose valid range includes zero (no KL penalty, no goal
randomisation: often the very setting the study is about) silently becomes the fallback while config.json, and so
the report, still state zero. Read statically on the code after the edit against before (new occurrences only): an
`or` whose first operand reads one of the template's settings from the configuration (`config["x"]`, `config.get("x")`,
through float()/int()) and whose fallback is a nonzero number, for a setting whose range allows zero.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Mapping

from scientist.monitors.syntax import parsed, walk


def _setting_read(node: ast.AST, settings: frozenset[str]) -> str | None:
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "int"):
        if not node.args:
            return None
        node = node.args[0]
    key: ast.AST | None = None
    if isinstance(node, ast.Subscript):
        key = node.slice
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
        key = node.args[0]
    if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value in settings:
        return key.value
    return None


def _nonzero_number(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "int"):
        return bool(node.args) and _nonzero_number(node.args[0])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _nonzero_number(node.operand)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value != 0


def _fallbacks(source: str, settings: frozenset[str]) -> list[tuple[str, int]]:
    try:
        tree = parsed(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) >= 2:
            setting = _setting_read(node.values[0], settings)
            if setting is not None and any(_nonzero_number(value) for value in node.values[1:]):
                found.append((setting, node.lineno))
    return found


def falsy_fallbacks(before: str, after: str, bounds: Mapping[str, tuple[float, float]]) -> list[tuple[str, int]]:
    """(setting, line after the edit) of each new `or` fallback that replaces a configured zero."""
    settings = frozenset(name for name, (low, high) in bounds.items() if low <= 0 <= high)
    if not settings:
        return []
    known = Counter(name for name, _ in _fallbacks(before, settings))
    out = []
    for name, line in _fallbacks(after, settings):
        if known[name] > 0:
            known[name] -= 1
            continue
        out.append((name, line))
    return out
