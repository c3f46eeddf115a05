"""Plain forms of common rewrites of a metrics block, so a refactor is compared with the code it replaced.

evalslice compares an edited evaluation region with the old one after normalising names and inlining new helper
functions. Honest edits of the metrics block also take other shapes that compute the very same numbers (held-out
v1 and v2 showed both): the metrics moved into a record type (`asdict(Summary.of(results))`,
`Summary(...)._asdict()` of a new dataclass or NamedTuple), and golfed rewrites (`a, b = zip(*results)`,
`dict(zip(keys, (f(v) for v in (a, b))))`). `plain(statements, old_tree, new_tree)` rewrites those into the dict
literal and comprehensions they stand for; `canonical_comprehensions` names comprehension variables by position,
on both sides, so `[c for c in xs]` and `[r for r in xs]` compare equal. Anything it cannot prove stays as it was,
and the caller keeps its cautious verdict.
"""

from __future__ import annotations

import ast
import copy
from typing import cast

from scientist.monitors.syntax import walk


def _substitute(node: ast.AST, values: dict[str, ast.expr]) -> ast.AST:
    class _Sub(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            value = values.get(name.id)
            return copy.deepcopy(value) if value is not None and isinstance(name.ctx, ast.Load) else name

    return cast(ast.AST, _Sub().visit(copy.deepcopy(node)))


class _Record:
    """A class the edit added: its fields in order, and its constructors (`of` returning `cls(field=...)`)."""

    def __init__(self, node: ast.ClassDef) -> None:
        self.name = node.name
        fields = [
            (stmt.target.id, stmt.value)
            for stmt in node.body
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        ]
        self.fields = [name for name, _ in fields]
        # `episodes: int = EVAL_EPISODES`: a default spelled as a constant or a name (not a field() factory)
        self.defaults = {
            name: value
            for name, value in fields
            if isinstance(value, ast.Constant | ast.Name | ast.Attribute | ast.UnaryOp)
        }
        self.factories = {name for name, value in fields if value is not None} - set(self.defaults)
        self.makers: dict[str, tuple[list[str], ast.Call]] = {}
        for stmt in node.body:
            if not isinstance(stmt, ast.FunctionDef):
                continue
            body = [s for s in stmt.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            made = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
            if not (isinstance(made, ast.Call) and isinstance(made.func, ast.Name) and not made.args):
                continue
            if made.func.id not in ("cls", self.name) or any(k.arg is None for k in made.keywords):
                continue
            params = [arg.arg for arg in [*stmt.args.posonlyargs, *stmt.args.args]]
            decorators = {d.id for d in stmt.decorator_list if isinstance(d, ast.Name)}
            if "classmethod" in decorators:
                params = params[1:]
            elif "staticmethod" not in decorators:
                continue
            self.makers[stmt.name] = (params, made)

    def as_dict(self, call: ast.AST) -> ast.Dict | None:
        """`Summary(a=x)` or `Summary.of(results)` as the dict of its fields, in field order (a field left out takes
        its declared default)."""
        if not isinstance(call, ast.Call) or (call.args and isinstance(call.func, ast.Name)):
            return None
        func = call.func
        if isinstance(func, ast.Name) and func.id == self.name:
            made = call
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == self.name:
            maker = self.makers.get(func.attr)
            if maker is None or call.keywords or len(call.args) != len(maker[0]):
                return None
            made = _substitute(maker[1], dict(zip(maker[0], call.args, strict=True)))  # type: ignore[assignment]
        else:
            return None
        given = {k.arg: k.value for k in made.keywords if k.arg}
        if len(given) != len(made.keywords) or not set(given) <= set(self.fields) or set(given) & self.factories:
            return None
        given = {**{k: v for k, v in self.defaults.items() if k not in given}, **given}
        if set(given) != set(self.fields):
            return None
        return ast.Dict(keys=[ast.Constant(name) for name in self.fields], values=[given[n] for n in self.fields])


class _Plain(ast.NodeTransformer):
    def __init__(self, records: dict[str, _Record], columns: dict[str, ast.expr]) -> None:
        self.records = records
        self.columns = columns

    def visit_Name(self, node: ast.Name) -> ast.AST:
        column = self.columns.get(node.id) if isinstance(node.ctx, ast.Load) else None
        return copy.deepcopy(column) if column is not None else node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        record_arg: ast.AST | None = None
        if isinstance(func, ast.Attribute) and func.attr == "_asdict" and not node.args:
            record_arg = func.value  # Summary(...)._asdict()
        named = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if named in ("asdict", "vars") and len(node.args) == 1 and not node.keywords:
            record_arg = node.args[0]  # dataclasses.asdict(Summary.of(results))
        if record_arg is not None:
            for record in self.records.values():
                as_dict = record.as_dict(record_arg)
                if as_dict is not None:
                    return as_dict
        if isinstance(func, ast.Name) and func.id == "dict" and len(node.args) == 1 and not node.keywords:
            zipped = node.args[0]
            if isinstance(zipped, ast.Call) and isinstance(zipped.func, ast.Name) and zipped.func.id == "zip":
                pairs = _zip_pairs(zipped)
                if pairs is not None:
                    return ast.Dict(keys=pairs[0], values=pairs[1])  # type: ignore[arg-type]
        return node

    def _fuse(self, node: ast.ListComp | ast.GeneratorExp) -> ast.AST:
        """[f(c) for c in [g(r) for r in xs]] -> [f(g(r)) for r in xs]."""
        self.generic_visit(node)
        if len(node.generators) != 1:
            return node
        outer = node.generators[0]
        inner = outer.iter
        if outer.ifs or outer.is_async or not isinstance(outer.target, ast.Name):
            return node
        if not isinstance(inner, ast.ListComp | ast.GeneratorExp) or len(inner.generators) != 1:
            return node
        if inner.generators[0].ifs:
            return node
        node.elt = _substitute(node.elt, {outer.target.id: inner.elt})  # type: ignore[assignment]
        node.generators = inner.generators
        return node

    visit_ListComp = visit_GeneratorExp = _fuse


def _items(node: ast.AST) -> list[ast.expr] | None:
    return list(node.elts) if isinstance(node, ast.Tuple | ast.List) else None


def _zip_pairs(zipped: ast.Call) -> tuple[list[ast.expr], list[ast.expr]] | None:
    """zip(("a", "b"), (x, y)) or zip(keys, (f(v) for v in (x, y))): the keys and the values, paired."""
    if len(zipped.args) != 2 or zipped.keywords:
        return None
    keys = _items(zipped.args[0])
    source = zipped.args[1]
    values = _items(source)
    if isinstance(source, ast.GeneratorExp | ast.ListComp) and len(source.generators) == 1:
        generator = source.generators[0]
        items = _items(generator.iter)
        if items is not None and isinstance(generator.target, ast.Name) and not generator.ifs:
            name = generator.target.id
            values = [_substitute(source.elt, {name: item}) for item in items]  # type: ignore[misc]
    if keys is None or values is None or len(keys) != len(values):
        return None
    if not all(isinstance(key, ast.Constant) and isinstance(key.value, str) for key in keys):
        return None
    return keys, values


def _columns(stmt: ast.stmt, old_names: set[str]) -> dict[str, ast.expr] | None:
    """`a, b, c = zip(*rows)` with fresh names: a is [r[0] for r in rows], and so on."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Tuple)):
        return None
    value = stmt.value
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "zip"):
        return None
    if len(value.args) != 1 or not isinstance(value.args[0], ast.Starred) or value.keywords:
        return None
    names = [elt.id if isinstance(elt, ast.Name) else None for elt in stmt.targets[0].elts]
    if any(name is None or name in old_names for name in names):
        return None
    rows = value.args[0].value
    return {
        name: ast.parse(f"[_row[{i}] for _row in ({ast.unparse(rows)})]", mode="eval").body
        for i, name in enumerate(names)
        if name is not None
    }


def plain(statements: list[ast.stmt], new_tree: ast.Module, old_tree: ast.Module) -> list[ast.stmt] | None:
    """The statements with record types, dict(zip(...)) and zip(*rows) columns rewritten; None if nothing was."""
    old_classes = {node.name for node in walk(old_tree) if isinstance(node, ast.ClassDef)}
    records = {
        node.name: _Record(node)
        for node in new_tree.body
        if isinstance(node, ast.ClassDef) and node.name not in old_classes
    }
    old_names = {node.id for node in walk(old_tree) if isinstance(node, ast.Name)}
    columns: dict[str, ast.expr] = {}
    kept: list[ast.stmt] = []
    for stmt in statements:
        unzipped = _columns(stmt, old_names)
        if unzipped is not None:
            columns.update(unzipped)
        else:
            kept.append(stmt)
    rewriter = _Plain(records, columns)
    out = [ast.fix_missing_locations(rewriter.visit(copy.deepcopy(stmt))) for stmt in kept]
    changed = [ast.dump(a) for a in out] != [ast.dump(b) for b in statements]
    return out if changed else None


def canonical_comprehensions(statements: list[ast.stmt]) -> list[ast.stmt]:
    """Comprehension variables renamed by position (`_c0`, `_c1`, ...), so their spelling does not count."""

    class _Rename(ast.NodeTransformer):
        def __init__(self) -> None:
            self.count = 0

        def _comprehension(self, node: ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp) -> ast.AST:
            mapping: dict[str, ast.expr] = {}
            for generator in node.generators:
                for target in walk(generator.target):
                    if isinstance(target, ast.Name) and target.id not in mapping:
                        mapping[target.id] = ast.Name(id=f"_c{self.count}", ctx=ast.Load())
                        self.count += 1
            renamed = _substitute(node, mapping)

            class _Store(ast.NodeTransformer):
                def visit_Name(self, name: ast.Name) -> ast.AST:
                    if name.id in mapping:
                        return ast.Name(id=mapping[name.id].id, ctx=name.ctx)  # type: ignore[attr-defined]
                    return name

            renamed = _Store().visit(renamed)
            self.generic_visit(renamed)
            return cast(ast.AST, renamed)

        visit_ListComp = visit_GeneratorExp = visit_SetComp = visit_DictComp = _comprehension

    renamer = _Rename()
    return [ast.fix_missing_locations(renamer.visit(copy.deepcopy(stmt))) for stmt in statements]


def _reraises(handler: ast.ExceptHandler) -> bool:
    return bool(handler.body) and isinstance(handler.body[-1], ast.Raise)  # bare, or another error with context


def _unguarded(statements: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in statements:
        if isinstance(stmt, ast.Assert):
            continue  # a loud check: it stops a run, it changes no number
        if isinstance(stmt, ast.Try) and not stmt.orelse and not stmt.finalbody and all(map(_reraises, stmt.handlers)):
            out.extend(_unguarded(stmt.body))  # every handler re-raises: only the failure's message changes
            continue
        if isinstance(stmt, ast.For | ast.While | ast.If | ast.With):
            stmt = copy.copy(stmt)
            stmt.body = _unguarded(stmt.body) or [ast.Pass()]
        out.append(stmt)
    return out


def _as_comprehension(statements: list[ast.stmt]) -> list[ast.stmt]:
    """`xs = []` then `for v in it: xs.append(e)` is `xs = [e for v in it]`."""
    out: list[ast.stmt] = []
    for stmt in statements:
        last = out[-1] if out else None
        if (
            isinstance(stmt, ast.For)
            and not stmt.orelse
            and len(stmt.body) == 1
            and isinstance(last, ast.Assign)
            and len(last.targets) == 1
            and isinstance(last.targets[0], ast.Name)
            and isinstance(last.value, ast.List)
            and not last.value.elts
        ):
            call = stmt.body[0].value if isinstance(stmt.body[0], ast.Expr) else None
            name = last.targets[0].id
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "append"
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == name
                and len(call.args) == 1
                and not call.keywords
            ):
                generator = ast.comprehension(target=stmt.target, iter=stmt.iter, ifs=[], is_async=0)
                comp = ast.ListComp(elt=call.args[0], generators=[generator])
                out[-1] = ast.copy_location(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=comp), last)
                continue
        out.append(stmt)
    return out


def without_loud_guards(statements: list[ast.stmt]) -> list[ast.stmt]:
    """The statements with their fail-loudly scaffolding removed (asserts, try blocks whose every handler re-raises)
    and an append loop read as the comprehension it builds: a defensive rewrite that can only stop the run."""
    return [ast.fix_missing_locations(stmt) for stmt in _as_comprehension(_unguarded(copy.deepcopy(statements)))]
