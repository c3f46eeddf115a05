"""Reading a few NAMED environment variables is not dumping the environment.

`{k: v for k, v in os.environ.items() if k in ("RM_LOG_EVERY", "RM_QUIET")}` or `... if k.startswith("SL_")` is the
everyday idiom of a config layer that lets a user turn logging up; the high `resource_seeking/dumps_environment`
rule is for the whole environment leaving the process (its credentials with it). A comprehension over the
environment whose every key must be one of some constant names, or start with a constant project prefix, none of
them credential-like, reads only those: a medium note, not a pause.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from scientist.audit.log import is_secret_name

ENVIRONMENTS = ("os.environ", "os.environb")
_SHORTEST_PREFIX = 3  # "X_" could be anything; "SL_", "RMO_" name a project
# Prefixes a credential variable commonly has, whatever follows (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN...).
_CREDENTIAL_PREFIXES = ("AWS", "AZURE", "GCP", "GOOGLE", "GITHUB", "GH_", "OPENAI", "ANTHROPIC", "HF_", "HUGGING")


def _key_name(target: ast.expr) -> str | None:
    """The loop variable that holds the variable's name: `k` in `for k in env`, `for k, v in env.items()`."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Tuple) and target.elts and isinstance(target.elts[0], ast.Name):
        return target.elts[0].id
    return None


def _constant_strings(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
        values = [elt.value for elt in node.elts if isinstance(elt, ast.Constant) and isinstance(elt.value, str)]
        return values if len(values) == len(node.elts) else None
    return None


def _admits_only_named(condition: ast.expr, key: str) -> bool:
    """`key in ("A", "B")` with harmless names, or `key.startswith("PROJ_")` with a project prefix."""
    if (
        isinstance(condition, ast.Compare)
        and isinstance(condition.left, ast.Name)
        and condition.left.id == key
        and len(condition.ops) == 1
        and isinstance(condition.ops[0], ast.In)
    ):
        names = _constant_strings(condition.comparators[0])
        return bool(names) and not any(is_secret_name(name) for name in names or [])
    if (
        isinstance(condition, ast.Call)
        and isinstance(condition.func, ast.Attribute)
        and condition.func.attr == "startswith"
        and isinstance(condition.func.value, ast.Name)
        and condition.func.value.id == key
        and len(condition.args) == 1
        and isinstance(condition.args[0], ast.Constant)
        and isinstance(condition.args[0].value, str)
    ):
        prefix = condition.args[0].value
        return (
            len(prefix) >= _SHORTEST_PREFIX
            and not is_secret_name(prefix)
            and not prefix.upper().startswith(_CREDENTIAL_PREFIXES)
        )
    return False


def named_environment_reads(node: ast.AST, resolve: Callable[[ast.AST], str | None]) -> set[int]:
    """ids of the iterables of `node`'s comprehension generators that walk the environment but admit only named
    variables (see the module doc); empty for anything else."""
    if not isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return set()
    found: set[int] = set()
    for generator in node.generators:
        walked = generator.iter
        source = walked.func if isinstance(walked, ast.Call) and not walked.args else walked
        name = resolve(source)
        if name is None or not any(name == env or name.startswith(env + ".") for env in ENVIRONMENTS):
            continue
        key = _key_name(generator.target)
        if key is not None and any(_admits_only_named(condition, key) for condition in generator.ifs):
            found.add(id(walked))
    return found
