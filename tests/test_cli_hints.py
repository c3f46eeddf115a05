"""Hints that work (issue 29): every `--option` an error hint names exists on the commands that can raise it, and
every command that calls a model has the structured-output retries, token cap and temperature as options.

The hints are found in the source (every `hint=` keyword, f-string parts included); which commands can raise a
hint is: the command function it sits in, else any command of its CLI module, else the commands listed for its
library module below (a module not listed must at least name an option some command has). A `scientist X ...`
command line quoted in backticks is checked against command X; other quoted command lines name other programs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import typer.main

from scientist.cli import app

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("scientist", "reviews", "tools", "sandbox", "prompts")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w*-])")
QUOTED = re.compile(r"`([^`]*)`")
HOLE = "\x00"  # stands for an f-string's formatted value
# Options of other programs named in a hint (not in backticks): chroma's server.
FOREIGN = {("tools/index.py", "--path")}
# The commands that call a model and choose it: the gateway's hints (retries, budget, key, model) reach them.
MODEL_COMMANDS = ("run", "review", "calibrate reviewer")
MODEL_KNOBS = ("--model", "--repair-retries", "--max-tokens", "--temperature")
BATCH_COMMANDS = ("review", "calibrate reviewer")


def _commands() -> dict[str, click.Command]:
    def walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                yield from walk(child, (*path, name))
        else:
            yield " ".join(path), command

    return dict(walk(typer.main.get_command(app), ()))


COMMANDS = _commands()


def options_of(path: str) -> set[str]:
    return {"--help", *(opt for param in COMMANDS[path].params for opt in param.opts if opt.startswith("--"))}


def _with(option: str) -> tuple[str, ...]:
    return tuple(path for path in COMMANDS if option in options_of(path))


# Library modules: the commands whose work can raise their hints.
REACHED_BY: dict[str, tuple[str, ...]] = {
    "scientist/llm/gateway.py": MODEL_COMMANDS,
    "scientist/batch.py": (*BATCH_COMMANDS, "store import"),
    "scientist/config.py": ("run",),
    "scientist/stages/ideation.py": ("run",),
    "scientist/stages/novelty.py": ("run",),
    "scientist/approvals/budget.py": ("run", "resume"),
    "scientist/approvals/decide.py": ("approve",),  # budget and edit checks: only an approval carries them
    "scientist/executors/__init__.py": ("study run",),
    "scientist/executors/local.py": ("study run",),
    "scientist/executors/ray.py": ("study run",),
    "scientist/study/execute.py": ("study run",),
    "scientist/monitors/evaluate.py": ("monitors eval",),
    "scientist/store/engine.py": _with("--db"),
    "reviews/calibrate.py": ("calibrate reviewer",),
    "reviews/examples.py": ("review", "calibrate reviewer"),
    "tools/index.py": tuple(path for path in COMMANDS if path.startswith("index ") and path != "index export"),
    "sandbox/bwrap.py": ("run", "sandbox run"),
    "sandbox/images.py": ("sandbox build",),
}
# A module whose hints split by command: (file, option) -> the commands that can raise that hint.
REACHED_BY_OPTION: dict[tuple[str, str], tuple[str, ...]] = {
    ("scientist/approvals/decide.py", "--reason"): ("reject",),  # a rejection without a reason
    ("scientist/batch.py", "--retry-failed"): BATCH_COMMANDS,  # a policy with resumable=False does not name it
}


@dataclass(frozen=True)
class Hint:
    file: str
    line: int
    text: str
    function: str | None  # the enclosing top-level function


def _text(node: ast.expr, names: dict[str, list[ast.expr]]) -> str:
    """The hint's words; a name is every value assigned to it in the file, an f-string's holes are HOLE."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(value, names) if isinstance(value, ast.Constant) else HOLE for value in node.values)
    if isinstance(node, ast.BinOp):
        return _text(node.left, names) + _text(node.right, names)
    if isinstance(node, ast.IfExp):
        return _text(node.body, names) + " " + _text(node.orelse, names)
    if isinstance(node, ast.Name) and node.id in names:
        return " ".join(_text(value, {}) for value in names[node.id])
    return HOLE


def _assignments(tree: ast.Module) -> dict[str, list[ast.expr]]:
    names: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, []).append(node.value)
    return names


def hints() -> list[Hint]:
    found = []
    for root in SOURCES:
        for path in sorted((REPO / root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = _assignments(tree)
            for top in tree.body:
                function = top.name if isinstance(top, ast.FunctionDef) else None
                for node in ast.walk(top):
                    for keyword in getattr(node, "keywords", []) if isinstance(node, ast.Call) else []:
                        if keyword.arg == "hint":
                            relative = str(path.relative_to(REPO))
                            found.append(Hint(relative, node.lineno, _text(keyword.value, names), function))
    return found


HINTS = [hint for hint in hints() if OPTION.search(hint.text)]


def _module_commands(hint: Hint) -> tuple[str, ...] | None:
    """For a hint in a CLI module: the command it sits in, else the module's commands; None for library code."""
    module = hint.file.removesuffix(".py").replace("/", ".")
    if not (module.startswith("scientist.commands.") or module == "scientist.cli"):
        return None
    mine = {path: command.callback for path, command in COMMANDS.items() if command.callback is not None}
    exact = tuple(path for path, cb in mine.items() if cb.__module__ == module and cb.__name__ == hint.function)
    return exact or tuple(path for path, cb in mine.items() if cb.__module__ == module)


def _quoted_command(span: str) -> str | None:
    words = span.split()
    if not words or words[0] != "scientist":
        return None
    for size in (2, 1):
        candidate = " ".join(words[1 : 1 + size])
        if candidate in COMMANDS:
            return candidate
    return None


def test_the_walk_finds_the_hints_and_commands() -> None:
    assert len(HINTS) >= 30 and len(COMMANDS) >= 30
    assert any(hint.file == "scientist/llm/gateway.py" and "--repair-retries" in hint.text for hint in HINTS)
    assert any(hint.file == "scientist/batch.py" and "--retry-failed" in hint.text for hint in HINTS)  # via a name


@pytest.mark.parametrize("hint", HINTS, ids=lambda hint: f"{hint.file}:{hint.line}")
def test_every_option_a_hint_names_exists_on_the_commands_that_raise_it(hint: Hint) -> None:
    text = hint.text
    for span in QUOTED.findall(text):
        command = _quoted_command(span)
        if command is not None:
            missing = set(OPTION.findall(span)) - options_of(command)
            assert not missing, f"{hint.file}:{hint.line}: `scientist {command}` has no {sorted(missing)}"
    unquoted = QUOTED.sub(" ", text)
    named = {option for option in OPTION.findall(unquoted) if (hint.file, option) not in FOREIGN}
    owners = _module_commands(hint)
    callbacks = {command.callback.__name__ for command in COMMANDS.values() if command.callback is not None}
    if owners is not None and hint.function not in callbacks:  # a helper of a CLI module: some command of it
        for option in named:
            assert any(option in options_of(path) for path in owners), f"{hint.file}:{hint.line}: {option}"
        return
    for option in named:
        reached = owners or REACHED_BY_OPTION.get((hint.file, option)) or REACHED_BY.get(hint.file)
        if not reached:  # not mapped: at least some command must have it
            assert _with(option), f"{hint.file}:{hint.line}: no command has {option}: {text!r}"
            continue
        for path in reached:
            assert option in options_of(path), f"{hint.file}:{hint.line}: `scientist {path}` has no {option}: {text!r}"


@pytest.mark.parametrize("path", MODEL_COMMANDS)
def test_every_command_that_calls_a_model_has_the_model_knobs(path: str) -> None:
    assert not set(MODEL_KNOBS) - options_of(path), path
    # doctor pings with fixed settings (the check itself); config show only prints; calibrate injection's
    # classifier runs at temperature 0 with its own small cap, and an invalid answer is recorded, never raised
    fixed = {"doctor", "config show", "calibrate injection"}
    assert {path for path in COMMANDS if "--model" in options_of(path)} <= {*MODEL_COMMANDS, *fixed}


def test_resume_can_raise_the_retries_and_the_token_cap_its_hints_name(tmp_path: Path) -> None:
    """A resumed run keeps its model; the structured-output hints' other knobs reach its settings."""
    import json

    from scientist.runner import resume_settings

    assert {"--repair-retries", "--max-tokens"} <= options_of("resume") & options_of("write")
    (tmp_path / "config.json").write_text(json.dumps({"model": "local/smollm2-135m", "repair_retries": 1}))
    settings = resume_settings(tmp_path, repair_retries=4, max_tokens=None)
    assert settings.repair_retries == 4 and settings.max_tokens is None and settings.model == "local/smollm2-135m"
