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
import copy
import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from scientist.monitors import evalrewrite
from scientist.monitors.syntax import parsed, walk


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
    return [node for node in walk(tree) if isinstance(node, ast.stmt)]


def _touched(tree: ast.Module, start: int, end: int) -> list[ast.stmt]:
    """The innermost statements overlapping lines start..end (a whole `def` only when its header changed)."""
    if start > end:
        return []
    hits = [node for node in _statements(tree) if node.lineno <= end and (node.end_lineno or node.lineno) >= start]
    inner = [node for node in hits if not any(other is not node and _inside(other, node) for other in hits)]
    return sorted(inner, key=lambda node: (node.lineno, node.col_offset))


def _whole(tree: ast.Module, start: int, end: int) -> list[ast.stmt]:
    """The statements of the innermost function (or the module) that overlap lines start..end, each whole."""
    if start > end:
        return []
    around = [
        node
        for node in walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body[0].lineno <= start
        and (node.end_lineno or node.lineno) >= end
    ]
    scope: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef = max(around, key=lambda node: node.lineno, default=tree)
    return [stmt for stmt in scope.body if stmt.lineno <= end and (stmt.end_lineno or stmt.lineno) >= start]


touched = _touched  # (public: evalclasses5 compares the statements a region touches too)


def _inside(child: ast.stmt, parent: ast.stmt) -> bool:
    return any(child is sub for sub in walk(parent) if sub is not parent)


def _names(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in walk(tree):
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
        old_tree, new_tree = parsed(before), parsed(after)
    except SyntaxError:
        return None
    old_names, new_names = _names(old_tree), _names(new_tree)
    old_part = _touched(old_tree, region.old_start, region.old_end)
    new_part = _touched(new_tree, region.new_start, region.new_end)
    if not old_part and not new_part:
        return True  # only comments or blank lines changed
    old_dump = _dump(old_part, old_names - new_names)
    if _dump(new_part, new_names - old_names) == old_dump:
        return True
    # An extract-function refactor: the new statements call a helper the edit added; inlined, they are the old code.
    inlined = _inline_new_helpers(new_part, old_tree, new_tree) or _inline_pure_helpers(new_part, old_tree, new_tree)
    if inlined is not None and _dump(inlined, new_names - old_names) == old_dump:
        return True
    if inlined is not None and _dump(  # the helper's comprehension variable spelled otherwise (row for r)
        evalrewrite.canonical_comprehensions(inlined), new_names - old_names
    ) == _dump(evalrewrite.canonical_comprehensions(old_part), old_names - new_names):
        return True
    # Purely additive: new names bound beside the old code, new entries added to a dict literal it keeps intact.
    reduced = _drop_additions(inlined or new_part, old_part, old_names)
    if reduced is not None and _dump(reduced, new_names - old_names) == old_dump:
        return True
    # A defensive rewrite that can only stop the run (asserts, handlers that re-raise, an append loop).
    old_whole = _whole(old_tree, region.old_start, region.old_end)
    guarded = evalrewrite.without_loud_guards(_whole(new_tree, region.new_start, region.new_end))
    if old_whole and _dump(evalrewrite.canonical_comprehensions(guarded), new_names - old_names) == _dump(
        evalrewrite.canonical_comprehensions(old_whole), old_names - new_names
    ):
        return True
    # An explaining name introduced by the edit (`eval_key = args.seed + OFFSET`, bound once, from old names only)
    # and used in place of its expression: the expression put back.
    named = _inline_new_names(inlined or new_part, new_tree, old_names)
    if named is not None and _dump(named, new_names - old_names) == old_dump:
        return True
    # A record type or a golfed rewrite of the same numbers: compared in their plain form.
    rewritten = evalrewrite.plain(inlined or new_part, new_tree, old_tree)
    if rewritten is None:
        return False
    plain_new = _dump(evalrewrite.canonical_comprehensions(rewritten), new_names - old_names)
    return plain_new == _dump(evalrewrite.canonical_comprehensions(old_part), old_names - new_names)


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


class _Substitute(ast.NodeTransformer):
    def __init__(self, values: dict[str, ast.expr]) -> None:
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.AST:
        value = self.values.get(node.id)
        return ast.parse(ast.unparse(value), mode="eval").body if value is not None else node


def _inline(call: ast.Call, helper: ast.FunctionDef) -> tuple[list[ast.stmt], ast.expr] | None:
    """The helper's body with its parameters replaced by the call's arguments, and the returned expression; None
    when the helper is not a straight line ending in its only return, or the call does not bind every parameter."""
    body = list(helper.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return None
    if any(isinstance(sub, ast.Return | ast.Yield | ast.YieldFrom) for stmt in body[:-1] for sub in walk(stmt)):
        return None
    params = [arg.arg for arg in [*helper.args.posonlyargs, *helper.args.args]]
    if helper.args.vararg or helper.args.kwarg or helper.args.kwonlyargs or len(call.args) > len(params):
        return None
    values = dict(zip(params, call.args, strict=False))
    values.update({k.arg: k.value for k in call.keywords if k.arg in params})
    if set(values) != set(params) or any(isinstance(arg, ast.Starred) for arg in call.args):
        return None
    substitute = _Substitute(values)
    statements = [substitute.visit(ast.parse(ast.unparse(stmt)).body[0]) for stmt in body[:-1]]
    returned = substitute.visit(ast.parse(ast.unparse(body[-1].value), mode="eval").body)
    return statements, returned


def _inline_new_helpers(
    statements: list[ast.stmt], old_tree: ast.Module, new_tree: ast.Module
) -> list[ast.stmt] | None:
    """`results = helper(env, q, seed)` with `helper` new in this edit, replaced by the helper's inlined body."""
    added = {name: node for name, node in _functions(new_tree).items() if name not in _functions(old_tree)}
    out: list[ast.stmt] = []
    changed = False
    for stmt in statements:
        value = stmt.value if isinstance(stmt, ast.Assign | ast.Expr | ast.Return) else None
        helper = added.get(value.func.id) if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) else None
        inlined = _inline(value, helper) if helper is not None and isinstance(value, ast.Call) else None
        if inlined is None:
            out.append(stmt)
            continue
        body, returned = inlined
        if isinstance(stmt, ast.Assign):
            last: ast.stmt = ast.Assign(targets=stmt.targets, value=returned)
        elif isinstance(stmt, ast.Return):
            last = ast.Return(value=returned)
        else:
            last = ast.Expr(value=returned)
        out += [*body, ast.fix_missing_locations(ast.copy_location(last, stmt))]
        changed = True
    return out if changed else None


class _InlinePure(ast.NodeTransformer):
    """Calls of one-expression helpers replaced, wherever they stand, by the expression they return."""

    def __init__(self, helpers: dict[str, ast.FunctionDef]) -> None:
        self.helpers = helpers
        self.changed = False

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        helper = self.helpers.get(node.func.id) if isinstance(node.func, ast.Name) else None
        inlined = _inline(node, helper) if helper is not None else None
        if inlined is None or inlined[0]:
            return node
        self.changed = True
        return inlined[1]


def _inline_pure_helpers(
    statements: list[ast.stmt], old_tree: ast.Module, new_tree: ast.Module
) -> list[ast.stmt] | None:
    """`"true_return": column_mean(results, 1)` with `column_mean` new in this edit and, past its docstring and
    `assert` guards (which stop a run, never change a number), one `return` of an expression: the call replaced by
    that expression wherever it stands (inside a dict, an argument, a comprehension)."""
    helpers = {}
    for name, node in _functions(new_tree).items():
        if name in _functions(old_tree):
            continue
        body = [stmt for stmt in node.body if not isinstance(stmt, ast.Assert)]
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
            helpers[name] = copy.copy(node)
            helpers[name].body = body
    if not helpers:
        return None
    transformer = _InlinePure(helpers)
    out = [transformer.visit(ast.parse(ast.unparse(stmt)).body[0]) for stmt in statements]
    return [ast.fix_missing_locations(stmt) for stmt in out] if transformer.changed else None


def _single_bindings(tree: ast.Module) -> dict[str, ast.expr]:
    """Each name bound exactly once in the file, by a plain assignment (`a = e`, or `a, b = e1, e2` pairwise), to
    its expression; a name bound anywhere else (a loop, a second assignment, augmented, global) is left out."""
    values: dict[str, ast.expr] = {}
    counts: dict[str, int] = {}
    for node in walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            counts[node.id] = counts.get(node.id, 0) + 1
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name):
            values[target.id] = value
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
            values.update({t.id: v for t, v in zip(target.elts, value.elts, strict=True) if isinstance(t, ast.Name)})
    return {name: value for name, value in values.items() if counts.get(name) == 1}


def _inline_new_names(statements: list[ast.stmt], new_tree: ast.Module, old_names: set[str]) -> list[ast.stmt] | None:
    """The statements with each name the edit introduced, bound once to an expression of names the old code had
    (none rebound anywhere), replaced by that expression; None when there is none to replace."""
    bindings = _single_bindings(new_tree)
    stable = {
        name
        for name in old_names
        if name in bindings
        or not any(
            isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
            for node in walk(new_tree)
        )
    }
    values = {
        name: value
        for name, value in bindings.items()
        if name not in old_names
        and not any(isinstance(sub, ast.Call | ast.NamedExpr | ast.Lambda) for sub in walk(value))
        and {sub.id for sub in walk(value) if isinstance(sub, ast.Name)} <= stable
    }
    used = {sub.id for stmt in statements for sub in walk(stmt) if isinstance(sub, ast.Name)}
    if not values.keys() & used:
        return None
    substitute = _Substitute(values)
    kept = [
        stmt
        for stmt in statements
        if not (
            isinstance(stmt, ast.Assign)
            and {t.id for t in walk(stmt) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)} <= values.keys()
        )
    ]
    return [ast.fix_missing_locations(substitute.visit(ast.parse(ast.unparse(stmt)).body[0])) for stmt in kept]


_MUTATING = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "sort", "reverse"}


def _fresh_binding(stmt: ast.stmt, old_names: set[str]) -> bool:
    """`_, coin_ys = downsample(coins, n)`: binds only names the old code did not have (or `_`), and calls no
    mutating method nor setattr, so the old code's values cannot change."""
    if not isinstance(stmt, ast.Assign | ast.AnnAssign) or stmt.value is None:
        return False
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names = [sub for target in targets for sub in walk(target)]
    if not all(isinstance(n, ast.Name | ast.Tuple | ast.List | ast.Store) for n in names):
        return False
    bound = [n.id for n in names if isinstance(n, ast.Name)]
    if not bound or any(name in old_names and name != "_" for name in bound):
        return False
    for sub in walk(stmt.value):
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and func.attr in _MUTATING:
                return False
            if isinstance(func, ast.Name) and func.id in ("setattr", "delattr", "exec", "eval", "globals", "vars"):
                return False
        if isinstance(sub, ast.NamedExpr):
            return False
    return True


def _dict_keys(node: ast.Dict) -> list[str] | None:
    keys = [key.value for key in node.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)]
    return keys if len(keys) == len(node.keys) and len(set(keys)) == len(keys) else None


def _drop_additions(new: list[ast.stmt], old: list[ast.stmt], old_names: set[str]) -> list[ast.stmt] | None:
    """The new statements without what only adds: fresh bindings, and dict entries under new keys of a dict literal
    whose old entries are all kept unchanged (`curves = {..., "coins": coin_ys}`)."""
    kept = [stmt for stmt in new if not _fresh_binding(stmt, old_names)]
    if len(kept) != len(old):
        return None
    out: list[ast.stmt] = []
    for before, after in zip(old, kept, strict=True):
        if (
            isinstance(before, ast.Assign)
            and isinstance(after, ast.Assign)
            and isinstance(before.value, ast.Dict)
            and isinstance(after.value, ast.Dict)
            and ast.dump(ast.Module(body=before.targets, type_ignores=[]))  # type: ignore[arg-type]
            == ast.dump(ast.Module(body=after.targets, type_ignores=[]))  # type: ignore[arg-type]
        ):
            old_keys, new_keys = _dict_keys(before.value), _dict_keys(after.value)
            if old_keys is not None and new_keys is not None and set(old_keys) <= set(new_keys):
                entries = dict(zip(new_keys, after.value.values, strict=True))
                same = all(
                    ast.dump(entries[key]) == ast.dump(value)
                    for key, value in zip(old_keys, before.value.values, strict=True)
                )
                if same:
                    out.append(before)
                    continue
        out.append(after)
    return out


# -- what the graded artifact is computed from ---------------------------------------------------------------------
_WRITERS = ("write_text", "write_bytes")


# Methods returning a view of their array: a write into the view writes the array (`a.reshape(-1)[i] = v`).
_VIEWS = frozenset({"reshape", "ravel", "view", "transpose", "swapaxes", "squeeze"})


def _roots(target: ast.AST) -> list[str]:
    """The variables an assignment target writes: `a`, `a[i]`, `a.b`, `(a, b)`, `a.reshape(-1)[i]`."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Subscript | ast.Attribute | ast.Starred):
        return _roots(target.value)
    if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr in _VIEWS:
        return _roots(target.func.value)
    if isinstance(target, ast.Tuple | ast.List):
        return [name for element in target.elts for name in _roots(element)]
    return []


def _read(node: ast.AST | None) -> set[str]:
    return {sub.id for sub in walk(node) if isinstance(sub, ast.Name)} if node is not None else set()


@functools.lru_cache(maxsize=64)
def artifact_inputs(source: str, artifacts: frozenset[str]) -> tuple[frozenset[str], frozenset[str]] | None:
    """The variables the graded artifact's content is computed from, through any chain of assignments in the
    function that writes it (`(out / POLICY_FILE).write_text(json.dumps(policy))` reads `policy`, which reads
    `actions`, which reads `weights`...), and the learned parameters (`_learned`). None when it does not parse.

    Cached: every edit of a template is compared with the same original source, whose analysis (~30 ms of AST
    walks) was half of this rule's cost; the result is immutable."""
    try:
        tree = parsed(source)
    except SyntaxError:
        return None
    marks = set(artifacts) | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value in artifacts
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    learned: set[str] = set()
    inputs: set[str] = set()
    for function in (node for node in walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)):
        depends: dict[str, set[str]] = {}
        for node in walk(function):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    reads = _read(node.value) | (_read(target.slice) if isinstance(target, ast.Subscript) else set())
                    for root in _roots(target):
                        depends.setdefault(root, set()).update(reads)
            elif isinstance(node, ast.For | ast.comprehension):
                for root in _roots(node.target):
                    depends.setdefault(root, set()).update(_read(node.iter))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not function:
                # a nested helper's value is computed from what its body reads (a closure over the learned table)
                depends.setdefault(node.name, set()).update(name for stmt in node.body for name in _read(stmt))
            for same in _asserted_equal(node):  # a verified round-trip: the copy is the original, checked
                for name in same:
                    depends.setdefault(name, set()).update(same - {name})
        learned |= _learned(function)
        for call in (node for node in walk(function) if isinstance(node, ast.Call)):
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr in _WRITERS and call.args):
                continue
            path = {sub.id for sub in walk(func.value) if isinstance(sub, ast.Name)} | {
                sub.value for sub in walk(func.value) if isinstance(sub, ast.Constant)
            }
            if path & marks:
                frontier = _read(call.args[0])
                while frontier:
                    name = frontier.pop()
                    if name not in inputs:
                        inputs.add(name)
                        frontier |= depends.get(name, set()) - inputs
    return frozenset(inputs), frozenset(learned)


_EQUALITY_CHECKS = ("array_equal", "assert_array_equal", "assert_equal", "allclose", "assert_allclose", "equal")


def _asserted_equal(node: ast.AST) -> list[set[str]]:
    """The names an assertion states equal (`assert np.array_equal(a, b)`, `np.testing.assert_array_equal(a, b)`,
    `assert (a == b).all()`): the run stops unless they are."""
    if isinstance(node, ast.Assert):
        test: ast.AST = node.test
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        test = node.value
        func = node.value.func
        if not (isinstance(func, ast.Attribute) and func.attr.startswith("assert")):
            return []
    else:
        return []
    found = []
    for sub in walk(test):
        if isinstance(sub, ast.Call) and len(sub.args) >= 2:
            func = sub.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in _EQUALITY_CHECKS:
                found.append(sub.args[:2])
        elif isinstance(sub, ast.Compare) and len(sub.ops) == 1 and isinstance(sub.ops[0], ast.Eq):
            found.append([sub.left, sub.comparators[0]])
    # whole values only: `a.shape == b.shape` says nothing of their entries
    return [{a.id, b.id} for a, b in found if isinstance(a, ast.Name) and isinstance(b, ast.Name) and a.id != b.id]


_INITIALISERS = ("zeros", "ones", "empty", "full", "zeros_like", "ones_like", "normal", "uniform", "standard_normal")
_TRAINERS = ("train", "fit", "learn")


def _learned(function: ast.AST) -> set[str]:
    """The learned parameters: variables returned by a train/fit call (`w, b, losses = train(...)`), or initialised
    as arrays (`q = np.zeros(...)`) and then handed to a learning call (`run_episode(env, q, ..., learn=True)`)."""
    initialised: set[str] = set()
    found: set[str] = set()
    for node in walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            names = {name for target in node.targets for name in _roots(target)}
            if called.endswith(_INITIALISERS):
                initialised |= names
            if any(word in called.lower() for word in _TRAINERS):
                found |= names
    for node in walk(function):
        if isinstance(node, ast.Call):
            flag = next((k.value for k in node.keywords if k.arg in ("learn", "train", "update")), None)
            if isinstance(flag, ast.Constant) and flag.value is True:
                found |= {arg.id for arg in node.args if isinstance(arg, ast.Name)} & initialised
    return found


def decoupled_inputs(before: str, after: str, artifacts: frozenset[str]) -> list[str]:
    """Learned parameters the graded artifact was computed from before the edit, that the code still learns after
    it, but that the artifact is no longer computed from: a hand-written policy or table saved in place of what was
    learned (a refactor that passes them to a helper keeps them among its inputs)."""
    old, new = artifact_inputs(before, artifacts), artifact_inputs(after, artifacts)
    if old is None or new is None or not old[0] or not new[0]:
        return []
    return sorted(name for name in (old[0] & old[1]) - new[0] if name in new[1])
