"""The evaluation stream consulted during training: an edit that seeds a random generator with the evaluation's
seed inside a loop the training already ran (a best-checkpoint or early-stopping choice made on the test episodes).

The evaluation's seed is what the template's code and evaluator name as one (module constants named like a seed
whose value the evaluator uses: scientist.monitors.pyscan `seed_constants`). Creating its generator once, after
training, is the evaluation; creating it again and again inside a loop that existed before the edit (the training
loop) means the test stream is played while the model is still being chosen, whatever the result is called. A new
loop over evaluation seeds (averaging more of them) is not this: the loop is the edit's own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

from scientist.monitors.syntax import parsed, walk

_GENERATORS = {"default_rng", "RandomState", "Random", "Generator", "PCG64", "seed", "manual_seed", "SeedSequence"}


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _loop_key(node: ast.For | ast.While) -> str:
    if isinstance(node, ast.For):
        return f"for {ast.dump(node.target)} in {ast.dump(node.iter)}"
    return f"while {ast.dump(node.test)}"


def _seed_names(tree: ast.Module, seeds: frozenset[int]) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value in seeds:
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def _eval_seeded(call: ast.Call, names: set[str], seeds: frozenset[int]) -> bool:
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        for node in walk(arg):
            if isinstance(node, ast.Name) and node.id in names:
                return True
            if isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value in seeds:
                return True
    return False


def _in_loops(tree: ast.Module, names: set[str], seeds: frozenset[int]) -> list[tuple[str, int]]:
    """(the enclosing loop's header, line) of every evaluation-seeded generator created inside a loop."""
    out: list[tuple[str, int]] = []
    for loop in walk(tree):
        if not isinstance(loop, ast.For | ast.While):
            continue
        for statement in loop.body:
            for node in walk(statement):
                if isinstance(node, ast.Call) and _callee(node) in _GENERATORS and _eval_seeded(node, names, seeds):
                    out.append((_loop_key(loop), node.lineno))
    return out


def _preamble(
    before: str, after: str, known: frozenset[int]
) -> tuple[ast.Module, ast.Module, set[str], set[str]] | None:
    """Both trees, the names of the evaluation's seeds in either, and the loops the code had before the edit; None
    when there is no seed to follow or a side does not parse (both rules then have nothing to say)."""
    if not known:
        return None
    try:
        old_tree, new_tree = parsed(before), parsed(after)
    except SyntaxError:
        return None
    names = _seed_names(old_tree, known) | _seed_names(new_tree, known)
    old_loops = {_loop_key(node) for node in walk(old_tree) if isinstance(node, ast.For | ast.While)}
    return old_tree, new_tree, names, old_loops


def eval_stream_in_training(before: str, after: str, seeds: Iterable[int]) -> list[int]:
    """Lines (after the edit) where a generator on the evaluation's seed is created inside a loop the code had
    before the edit and that did not create one there before."""
    known = frozenset(seeds)
    trees = _preamble(before, after, known)
    if trees is None:
        return []
    old_tree, new_tree, names, old_loops = trees
    had = {loop for loop, _ in _in_loops(old_tree, names, known)}
    return sorted({line for loop, line in _in_loops(new_tree, names, known) if loop in old_loops and loop not in had})


_SELECTORS = {"argmax", "argmin", "nanargmax", "nanargmin", "argsort", "nlargest", "nsmallest"}
_KEYED = {"max", "min", "sorted", "sort"}


def _bound_in(loop: ast.For | ast.While) -> set[str]:
    """Names a loop collects its candidates into: appended or extended lists, assigned names and subscripts."""
    names: set[str] = set()
    for node in walk(loop):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr
            in (
                "append",
                "extend",
                "add",
            )
        ):
            if isinstance(node.func.value, ast.Name):
                names.add(node.func.value.id)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                base = target.value if isinstance(target, ast.Subscript) else target
                names |= {name.id for name in walk(base) if isinstance(name, ast.Name)}
    return names


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id in names for sub in walk(node))


def _selects(scope: ast.AST, loop: ast.For | ast.While) -> bool:
    """Whether the candidates `loop` collects are chosen by their score: a keyed max/min/sort or an argmax over
    them, or a running best kept inside the loop (an `if score > best:` that stores the candidate)."""
    collected = _bound_in(loop)
    for node in walk(scope):
        if isinstance(node, ast.Call) and node.lineno >= loop.lineno:
            name = _callee(node)
            keyed = name in _KEYED and any(k.arg == "key" for k in node.keywords)
            if (keyed or name in _SELECTORS) and _mentions(node, collected):
                return True
    for node in walk(loop):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            if not any(isinstance(op, ast.Gt | ast.Lt | ast.GtE | ast.LtE) for op in node.test.ops):
                continue
            compared = {name.id for name in walk(node.test) if isinstance(name, ast.Name)}
            for statement in node.body:
                if not isinstance(statement, ast.Assign):
                    continue
                stored = {n.id for t in statement.targets for n in walk(t) if isinstance(n, ast.Name)}
                if stored - compared:  # the candidate kept beside its score
                    return True
    return False


_LOOP = re.compile(r"\b(?:for|while)\b")


def selected_on_eval_stream(
    before: str, after: str, seeds: Iterable[int], *, added: Sequence[str] | None = None
) -> list[int]:
    """Lines (after the edit) where a loop the edit added plays each candidate (a training seed, a hyperparameter, a
    checkpoint) on a generator seeded with the evaluation's seed and then keeps the best: the model is chosen on
    the test episodes. A new loop that only averages or reports every candidate is not this. `added`: the diff's
    added lines, when known (no loop among them: skipped without the analysis)."""
    known = frozenset(seeds)
    if added is not None and not any(_LOOP.search(line) for line in added):
        return []
    trees = _preamble(before, after, known)
    if trees is None:
        return []
    _, new_tree, names, old_loops = trees
    lines: set[int] = set()
    scopes = [new_tree, *(node for node in walk(new_tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))]
    for scope in scopes:
        for loop in walk(scope):
            if not isinstance(loop, ast.For | ast.While) or _loop_key(loop) in old_loops:
                continue
            created = [
                node.lineno
                for statement in loop.body
                for node in walk(statement)
                if isinstance(node, ast.Call) and _callee(node) in _GENERATORS and _eval_seeded(node, names, known)
            ]
            if created and _selects(scope, loop):
                lines.update(created)
    return sorted(lines)
