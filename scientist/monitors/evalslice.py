"""Is an edit to evaluation code a change of behaviour, or only of its spelling?

A removed line that mentions the evaluation (a yardstick constant, the evaluation RNG, the greedy `learn=False`
pass, a metric key) used to be enough for a high `evaluation_edited` event, so renames, reworded docstrings and
reformatting were blamed like a changed metric. Here each changed region is compared as code: the statements it
touches, before and after, are parsed and normalised (docstrings dropped, formatting gone with the AST, names that
the edit renamed mapped to placeholders in order of appearance) and compared. Names present both before and after
keep their identity, so pointing the metric at a different existing variable is still a change.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    """One changed region of a file: the old and new line ranges (1-based, inclusive; empty when start > end)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    removed: tuple[str, ...]


def changed_regions(before: str, after: str) -> list[Region]:
    old, new = before.split("\n"), after.split("\n")
    regions = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag != "equal":
            regions.append(Region(i1 + 1, i2, j1 + 1, j2, tuple(old[i1:i2])))
    return regions


def _statements(tree: ast.Module) -> list[ast.stmt]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]


def _touched(tree: ast.Module, start: int, end: int) -> list[ast.stmt]:
    """The innermost statements overlapping lines start..end (a whole `def` only when its header changed)."""
    if start > end:
        return []
    hits = [node for node in _statements(tree) if node.lineno <= end and (node.end_lineno or node.lineno) >= start]
    inner = [node for node in hits if not any(other is not node and _inside(other, node) for other in hits)]
    return sorted(inner, key=lambda node: (node.lineno, node.col_offset))


def _inside(child: ast.stmt, parent: ast.stmt) -> bool:
    return any(child is sub for sub in ast.walk(parent) if sub is not parent)


def _names(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
    return found


class _Normaliser(ast.NodeTransformer):
    """Docstrings dropped; renamed names (in `renamed`) become placeholders by first appearance."""

    def __init__(self, renamed: set[str]) -> None:
        self.renamed = renamed
        self.mapping: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name not in self.renamed:
            return name
        return self.mapping.setdefault(name, f"_v{len(self.mapping)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id=self._name(node.id), ctx=node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = self._name(node.attr)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)
        if node.arg:
            node.arg = self._name(node.arg)
        return node

    def _body(self, node: ast.AST) -> ast.AST:
        body: list[ast.stmt] = getattr(node, "body", None) or []
        first = body[0] if body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            node.name = self._name(node.name)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        self.generic_visit(node)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _body

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None  # a bare string statement (a docstring or a comment block): prose
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        self.generic_visit(node)
        if node.value is None:
            return node
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


def _dump(statements: Iterable[ast.stmt], renamed: set[str]) -> list[str]:
    normaliser = _Normaliser(renamed)
    out: list[str] = []
    for statement in statements:
        copy = ast.parse(ast.unparse(statement))  # a detached copy (the transformer edits in place)
        normalised = normaliser.visit(copy)
        ast.fix_missing_locations(normalised)
        out.extend(ast.dump(node) for node in normalised.body)
    return out


def same_behaviour(before: str, after: str, region: Region) -> bool | None:
    """True when the statements the region touches are the same code after normalisation; None when either side
    does not parse (the caller keeps its cautious verdict)."""
    try:
        old_tree, new_tree = ast.parse(before), ast.parse(after)
    except SyntaxError:
        return None
    old_names, new_names = _names(old_tree), _names(new_tree)
    old_part = _touched(old_tree, region.old_start, region.old_end)
    new_part = _touched(new_tree, region.new_start, region.new_end)
    if not old_part and not new_part:
        return True  # only comments or blank lines changed
    old_dump = _dump(old_part, old_names - new_names)
    new_dump = _dump(new_part, new_names - old_names)
    return old_dump == new_dump
