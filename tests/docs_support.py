"""Run a tutorial page the way a reader does: write its files, run its commands, compare with the output it shows.

A page is executed from its Markdown source, in order:
- a fenced block with a `title="PATH"` (how the page shows a file the reader creates) is written to PATH;
- every `$ ` line of a ```console block is a command; the lines after it are the output the page shows, each a
  pattern where `...` stands for anything, matched in order against the printed lines. A trailing
  `# exits N` says the command exits N (default 0).
Commands are `scientist ...` (run through the CLI entry point, in process), `python ...` (this interpreter), a
plain tool such as `sed` (an argument list, never a shell), or `export NAME=VALUE ...` (set for the commands after
it, as in the reader's shell).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.cli_runner import run_cli

_BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```", flags=re.S | re.M)
_TITLE = re.compile(r'title="(?P<path>[^"]+)"')


@dataclass
class Step:
    """One thing the reader does: write a file (`path`, `text`) or run a command (`command`, `code`, `expected`)."""

    command: str = ""
    code: int = 0
    expected: list[str] = field(default_factory=list)
    path: str = ""
    text: str = ""


def page_steps(page: Path) -> list[Step]:
    """The page's files and commands, in the order the page gives them."""
    steps: list[Step] = []
    for block in _BLOCK.finditer(page.read_text(encoding="utf-8")):
        info, body = block.group("info").strip(), block.group("body")
        title = _TITLE.search(info)
        if title:
            steps.append(Step(path=title.group("path"), text=body))
        elif info == "console":
            for line in body.splitlines():
                if line.startswith("$ "):
                    command, _, comment = line[2:].partition("#")
                    code = re.fullmatch(r"\s*exits (\d+)\s*", comment)
                    steps.append(Step(command=command.strip(), code=int(code.group(1)) if code else 0))
                elif line.strip():
                    steps[-1].expected.append(line.strip())
    return steps


def pattern(expected: str) -> re.Pattern[str]:
    """A shown output line as a pattern: `...` stands for anything, the rest is literal."""
    return re.compile(".*".join(re.escape(part.strip()) for part in expected.split("...")))


def run_page(
    page: Path,
    work: Path,
    *,
    env: Mapping[str, str] | None = None,
    substitute: Callable[[str], str] = lambda arg: arg,
) -> list[Step]:
    """Every step of `page`, in order, in `work` (the test's cwd); fails on the first step that differs from the page.
    `substitute` maps each argument (e.g. the placeholder RUN to a real run id)."""
    steps = page_steps(page)
    exported: dict[str, str] = {}
    for step in steps:
        if step.path:
            target = work / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        args = [substitute(arg) for arg in shlex.split(step.command)]
        if args[0] == "export":
            for assignment in args[1:]:
                name, _, value = assignment.partition("=")
                exported[name] = value
            continue
        if args[0] == "scientist":
            result = run_cli(*args[1:], env={"COLUMNS": "200", **(env or {}), **exported})
        else:
            program = sys.executable if args[0] == "python" else args[0]
            result = subprocess.run([program, *args[1:]], capture_output=True, text=True, cwd=work, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == step.code, f"{step.command}: exit {result.returncode}\n{output}"
        lines = output.splitlines()
        position = 0
        for shown in step.expected:
            wanted = pattern(shown)
            hits = [i for i in range(position, len(lines)) if wanted.search(lines[i])]
            assert hits, f"{step.command}: {shown!r} not in the output (in order):\n{output}"
            position = hits[0] + 1
    return steps
