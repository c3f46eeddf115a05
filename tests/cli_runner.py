"""Run the `scientist` CLI for a test: in this process by default, in a real subprocess where the process is the point.

Why in-process: each subprocess cold-imports litellm (and often torch for the embedding model), 5-15 s a call, and
the suite makes ~170 CLI calls. In-process, the command runs through the same entry point (`scientist.cli.main`, so a
user error is still one line and an exit code) with click's stream isolation, and the imports are paid once per
worker. A subprocess is kept where a test needs a real process boundary: a fault that kills the process
(SCIENTIST_FAULT_KILL_AT), signals, a TTY, import-time laziness, or an explicit `isolated=True`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from click.testing import CliRunner

SCIENTIST = [sys.executable, "-m", "scientist.cli"]
# Environment variables whose effect only a separate process can show (they end the process on purpose).
NEEDS_PROCESS = ("SCIENTIST_FAULT_KILL_AT",)


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    isolated: bool = False,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `scientist ARGS` with `env` added to the environment; the result looks like `subprocess.run`'s."""
    extra = dict(env or {})
    if isolated or any(name in extra or name in os.environ for name in NEEDS_PROCESS):
        return subprocess.run(
            [*SCIENTIST, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env={**os.environ, **extra},
        )
    return _run_in_process(list(args), extra, input)


def _run_in_process(args: list[str], env: dict[str, str], input: str | None) -> subprocess.CompletedProcess[str]:
    from scientist import cli

    runner = CliRunner()
    code: int = 0
    # click's isolation swaps stdin/stdout/stderr and sets (then restores) the environment variables given.
    with runner.isolation(input=input, env=env) as (stdout, stderr, _output), _warnings_to_stderr(), _argv(args):
        try:
            cli.main()
        except SystemExit as done:
            code = _exit_code(done.code)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    out, err = (stream.getvalue().decode(errors="replace") for stream in (stdout, stderr))
    return subprocess.CompletedProcess(["scientist", *args], code, out, err)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")  # sys.exit("message") prints the message and exits 1
    return 1


@contextmanager
def _argv(args: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = ["scientist", *args]
    try:
        yield
    finally:
        sys.argv = saved


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """A process with no logging set up prints warnings on stderr (logging's last-resort handler); under pytest the
    root logger has capture handlers instead, so a test reading stderr would miss them. Restore the plain behaviour."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
