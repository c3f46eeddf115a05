"""The `unsafe-subprocess` backend: the experiment runs as a plain host subprocess under rlimits and a wall clock.

THIS IS NOT A SECURITY BOUNDARY. The process shares the host's network, filesystem, user id and process table:
it can read anything the user can, talk to the network, and signal the user's other processes. What it does give:
limits set from outside that the experiment cannot raise (hard rlimits; capabilities dropped when run as root),
a wall-time kill of the whole process tree, a scrubbed environment (no API keys), read-only protected files whose
tampering is detected, and full logs. Isolation (no network, read-only root, pid namespace) comes with the `docker`
and `local` (bubblewrap) backends, which share its contract (`scientist.sandbox.base`) and its process supervision
(`scientist.sandbox.process`: how the whole process tree is found and killed, and where that falls short).

Only ever chosen by its explicit name, `unsafe-subprocess` (never as a silent fallback): making one logs a loud
warning, and the runner and `scientist sandbox run` write a `sandbox_unisolated` audit record.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from scientist.errors import SandboxError
from scientist.sandbox.base import (
    MANIFEST_DIR,
    PASSTHROUGH_VARS,
    PYTHON_NAMES,
    THREAD_VARS,
    WRITE_TRACE_DIR,
    Limits,
    RunResult,
    WorkspacePreparer,
    begin_run,
    finish_run,
    looks_oom_killed,
    read_tail,
)
from scientist.sandbox.process import (
    MARKER_VAR,
    ChildSetup,
    kill_processes,
    rlimits_for,
    start_deferring_sigint,
    wait_and_kill,
    workspace_marker,
)

__all__ = [
    "MARKER_VAR",
    "UNSAFE_WARNING",
    "UnsafeSubprocessSandbox",
    "kill_processes",
    "resolve_command",
    "rlimits_for",
    "sandbox_env",
    "workspace_marker",
]

log = logging.getLogger("scientist.sandbox")
UNSAFE_WARNING = (
    "UNSAFE SANDBOX: experiment code will run as a plain host subprocess with your user's rights "
    "(network, files, processes); only rlimits and a wall clock hold it. Use --sandbox docker or local."
)


class UnsafeSubprocessSandbox(WorkspacePreparer):
    """Runs experiments as host subprocesses under rlimits. NOT a security boundary (see the module docstring)."""

    backend: str = "unsafe-subprocess"
    isolated: bool = False

    def __init__(self, run_label: str | None = None) -> None:
        if not sys.platform.startswith("linux"):
            raise SandboxError(
                f"the unsafe-subprocess sandbox needs Linux (/proc, prctl), not {sys.platform}",
                hint="use the docker sandbox backend",
            )
        self.run_label = run_label
        log.warning(UNSAFE_WARNING)

    def run(
        self,
        workspace: Path,
        command: Sequence[str],
        limits: Limits,
        *,
        out_dir: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        argv = resolve_command(command)
        plan = begin_run(workspace, out_dir, log_dir)
        marker = workspace_marker(plan.workspace)
        child_env = sandbox_env(plan.workspace, marker, env)
        setup = ChildSetup(rlimits_for(limits))

        with plan.stdout_path.open("wb") as stdout, plan.stderr_path.open("wb") as stderr:
            try:
                proc = start_deferring_sigint(
                    lambda: subprocess.Popen(
                        argv,
                        cwd=plan.workspace,
                        env=child_env,
                        stdin=subprocess.DEVNULL,
                        stdout=stdout,
                        stderr=stderr,
                        start_new_session=True,
                        preexec_fn=setup,
                    ),
                    marker,
                )
            except OSError as err:
                raise SandboxError(f"cannot start {argv[0]!r}: {err.strerror}", hint="check the command") from err
            except subprocess.SubprocessError as err:
                raise SandboxError(f"cannot apply limits to {argv[0]!r}: {err}", hint="check the limits") from err
        outcome = wait_and_kill(proc, limits.wall_time_s, marker)
        status, usage = outcome.status, outcome.usage

        exit_code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
        cpu_time_s = usage.ru_utime + usage.ru_stime if usage else 0.0
        cpu_limit_hit = sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_time_s >= limits.effective_cpu_time_s)
        timed_out = outcome.wall_expired or cpu_limit_hit
        oom_killed = looks_oom_killed(exit_code, sig, timed_out, read_tail(plan.stderr_path))
        return finish_run(
            plan,
            backend=self.backend,
            command=argv,
            limits=limits,
            exit_code=exit_code,
            sig=sig,
            timed_out=timed_out,
            oom_killed=oom_killed,
            output_limit_hit=False,  # judged after the run from what was written (no isolation to stop it early)
            cpu_time_s=cpu_time_s,
            peak_memory_mb=outcome.peak_mb,  # sampled VmHWM; a run shorter than the first sample reports 0
            image=None,
        )

    def cleanup(self, workspace: Path) -> None:
        """Kill every process still carrying this workspace's marker (works after a crash, from a new process)."""
        kill_processes(workspace_marker(Path(workspace).resolve()))


def resolve_command(command: Sequence[str]) -> list[str]:
    """`python`/`python3` mean this interpreter, so experiments see the same numpy/matplotlib as scientist."""
    if isinstance(command, str) or not command:
        raise SandboxError(f"sandbox command must be a non-empty list, got {command!r}", hint="pass argv as a list")
    argv = [str(part) for part in command]
    if argv[0] in PYTHON_NAMES:
        if not sys.executable:
            raise SandboxError("cannot find the Python interpreter to run", hint="run scientist with a normal python")
        argv[0] = sys.executable
    return argv


def sandbox_env(workspace: Path, marker: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """A minimal allow-list: nothing from the parent's environment (API keys!) passes unless listed here."""
    private = workspace / MANIFEST_DIR
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]),
        "HOME": str(workspace),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": str(private / "tmp"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(private / "matplotlib"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # so the log tail is current even when the run is killed
        "PYTHONPATH": str(workspace / WRITE_TRACE_DIR),  # reports attempts on protected files (write_trace.py)
        **dict.fromkeys(THREAD_VARS, "1"),
        **{name: os.environ[name] for name in PASSTHROUGH_VARS if name in os.environ},
        **(extra or {}),
    }
    env[MARKER_VAR] = marker
    return env
