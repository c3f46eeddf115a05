"""The local backend: the experiment runs as a host subprocess under rlimits and a wall clock.

THIS IS NOT A SECURITY BOUNDARY. The process shares the host's network, filesystem, user id and process table:
it can read anything the user can, talk to the network, and signal the user's other processes. What it does give:
limits set from outside that the experiment cannot raise (hard rlimits; capabilities dropped when run as root),
a wall-time kill of the whole process tree, a scrubbed environment (no API keys), read-only protected files whose
tampering is detected, and full logs. Isolation (no network, read-only root, pid namespace) comes with the Docker
and bubblewrap backends, which reuse this module's contract (`scientist.sandbox.base`).

Finding the process tree: every process gets `SCIENTIST_SANDBOX_ID=<workspace hash>` in its environment and its
own session/process group. Killing the group catches ordinary children; scanning `/proc/*/environ` for the marker
catches children that double-fork or `setsid` out of the group. A process that also re-executes itself with a
scrubbed environment escapes both; only a pid namespace (the other backends) closes that gap.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from scientist.errors import SandboxError
from scientist.sandbox.base import (
    MANIFEST_DIR,
    PROTECTED_MANIFEST,
    Limits,
    RunResult,
    hash_outputs,
    load_manifest,
    prepare_workspace,
    protected_violations,
    read_tail,
    relative_path,
    snapshot,
    written_files,
)

MARKER_VAR = "SCIENTIST_SANDBOX_ID"
# Numeric libraries start one thread per core unless told otherwise; one run should use one core.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# Set by the operator for CPUs OpenBLAS misdetects; without them numpy can crash, so they must pass through.
PASSTHROUGH_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
PYTHON_NAMES = ("python", "python3")
OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
REAP_GRACE_S = 5.0  # how long to wait for a SIGKILLed child before giving up on it (e.g. stuck in disk I/O)
KILL_ROUNDS = 50

# prctl(2) options and the capset(2) ABI (linux/prctl.h, linux/capability.h).
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_VERSION_3 = 0x20080522

_LIBC = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def _prctl(option: int, arg: int = 0) -> None:
    """Best effort: an option the kernel lacks or refuses is skipped (errors are ignored on purpose)."""
    zero = ctypes.c_ulong(0)
    _LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), zero, zero, zero)


def _last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 63


class _ChildSetup:
    """Runs in the child between fork and exec (`preexec_fn`): everything is prepared in the parent, so it imports
    nothing and takes no locks another thread might have held at fork time.

    Hard limits are set (equal to the soft ones; CPU gets 1 s more), so the experiment can lower but never raise
    them. When the parent is root,
    uid 0 alone would still let the child raise hard limits (CAP_SYS_RESOURCE) and write read-only files
    (CAP_DAC_OVERRIDE): emptying the capability bounding, ambient and inheritable sets makes the exec'd program
    an ordinary-privileged uid 0, and no-new-privs stops setuid binaries from giving them back.
    """

    def __init__(self, rlimits: Sequence[tuple[int, int, int]]) -> None:
        self.rlimits = list(rlimits)
        self.last_cap = _last_capability()
        self.header = _CapHeader(CAP_VERSION_3, 0)
        self.data = (_CapData * 2)()

    def __call__(self) -> None:
        for which, soft, hard in self.rlimits:
            resource.setrlimit(which, (soft, hard))
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # if scientist dies, its experiment dies with it
        for cap in range(self.last_cap + 1):
            _prctl(PR_CAPBSET_DROP, cap)
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        _LIBC.capset(ctypes.byref(self.header), ctypes.byref(self.data))
        _prctl(PR_SET_NO_NEW_PRIVS, 1)


class LocalSandbox:
    """Runs experiments as host subprocesses under rlimits. NOT a security boundary (see the module docstring)."""

    backend: str = "local"

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise SandboxError(
                f"the local sandbox needs Linux (/proc, prctl), not {sys.platform}",
                hint="use the docker sandbox backend",
            )

    def prepare(self, template_dir: Path, workspace: Path, protected: Sequence[str]) -> None:
        prepare_workspace(Path(template_dir), Path(workspace), protected)

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
        workspace = Path(workspace).resolve()
        if not workspace.is_dir():
            raise SandboxError(f"workspace {workspace} does not exist", hint="call prepare() before run()")
        argv = resolve_command(command)
        out_rel = relative_path(out_dir, "out_dir")
        manifest = load_manifest(workspace)
        manifest_text = (workspace / PROTECTED_MANIFEST).read_bytes()
        (workspace / out_rel).mkdir(parents=True, exist_ok=True)
        (workspace / MANIFEST_DIR / "tmp").mkdir(parents=True, exist_ok=True)  # TMPDIR: temp files stay inside
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        stdout_path, stderr_path = log_dir / "stdout.log", log_dir / "stderr.log"
        marker = workspace_marker(workspace)
        child_env = sandbox_env(workspace, marker, env)
        setup = _ChildSetup(rlimits_for(limits))
        before = snapshot(workspace)

        start = time.monotonic()
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=workspace,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                    preexec_fn=setup,
                )
            except OSError as err:
                raise SandboxError(f"cannot start {argv[0]!r}: {err.strerror}", hint="check the command") from err
            except subprocess.SubprocessError as err:
                raise SandboxError(f"cannot apply limits to {argv[0]!r}: {err}", hint="check the limits") from err
        wall_expired, status, usage, peak_mb = _wait_and_kill(proc, limits.wall_time_s, marker)
        wall_time_s = time.monotonic() - start

        exit_code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
        cpu_time_s = usage.ru_utime + usage.ru_stime if usage else 0.0
        cpu_limit_hit = sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_time_s >= limits.effective_cpu_time_s)
        timed_out = wall_expired or cpu_limit_hit
        stderr_tail = read_tail(stderr_path)
        failed = exit_code != 0
        oom_killed = failed and (
            any(text in stderr_tail for text in OOM_MARKERS)
            or (sig == signal.SIGKILL and not timed_out)  # a SIGKILL we did not send: the kernel's OOM killer
        )
        written = written_files(before, snapshot(workspace))
        return RunResult(
            backend=self.backend,
            command=argv,
            exit_code=exit_code,
            signal=sig,
            timed_out=timed_out,
            oom_killed=oom_killed,
            output_limit_exceeded=sum(written.values()) > limits.max_output_bytes,
            wall_time_s=wall_time_s,
            cpu_time_s=cpu_time_s,
            peak_memory_mb=peak_mb,  # sampled VmHWM; a run shorter than the first sample reports 0
            stdout_tail=read_tail(stdout_path),
            stderr_tail=stderr_tail,
            stdout_path=str(stdout_path),
            stderr_path=str(stderr_path),
            outputs=hash_outputs(workspace, written, out_rel),
            protected_violations=protected_violations(workspace, manifest, manifest_text),
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


def workspace_marker(workspace: Path) -> str:
    return hashlib.sha256(str(workspace).encode()).hexdigest()[:24]


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
        **dict.fromkeys(THREAD_VARS, "1"),
        **{name: os.environ[name] for name in PASSTHROUGH_VARS if name in os.environ},
        **(extra or {}),
    }
    env[MARKER_VAR] = marker
    return env


def rlimits_for(limits: Limits) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) triples, clamped to the parent's own hard limits (lowering never needs privilege).

    RLIMIT_AS caps address space, not resident memory: generous enough for numpy, fatal for runaway allocation.
    RLIMIT_CPU gets a 1 s gap so the run first sees SIGXCPU (a clear cause), then SIGKILL.
    RLIMIT_FSIZE also caps the stdout/stderr logs, which the child writes itself.
    RLIMIT_NPROC counts every task of the user id, not just this run's, so the limit is the user's current count
    plus `max_processes`. The kernel does not enforce it at all for root (uid 0 in the initial user namespace).
    """
    cpu = limits.effective_cpu_time_s
    wanted = [
        (resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_NPROC, *(2 * [_tasks_of_user(os.getuid()) + limits.max_processes])),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes, limits.max_file_bytes),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    clamped = []
    for which, soft, hard in wanted:
        parent_hard = resource.getrlimit(which)[1]
        if parent_hard != resource.RLIM_INFINITY:
            hard = min(hard, parent_hard)
        clamped.append((which, min(soft, hard), hard))
    return clamped


def _tasks_of_user(uid: int) -> int:
    count = 0
    for pid in _pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1"))
    return count


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _marked_pids(marker: str) -> list[int]:
    """Live processes whose environment carries the marker (zombies have an empty environ, so they drop out)."""
    needle = f"\0{MARKER_VAR}={marker}\0".encode()
    me = os.getpid()
    found = []
    for pid in _pids():
        if pid == me:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in b"\0" + environ + b"\0":
            found.append(pid)
    return found


def kill_processes(marker: str, pgid: int | None = None) -> None:
    """SIGKILL the run's process group and every marked process, until none is left (a forking loop can race)."""
    for _ in range(KILL_ROUNDS):
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        survivors = _marked_pids(marker)
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not survivors:
            return
        time.sleep(0.02)


def _high_water_mb(pids: Iterable[int]) -> float:
    """Sum of the peak resident sizes (VmHWM) of live processes.

    Why not wait4's ru_maxrss: on exec Linux carries the *parent's* peak into the child's, so a run forked from a
    large process (a test runner that loaded a model) would report the parent's memory as its own.
    """
    own_cmdline = Path("/proc/self/cmdline").read_bytes()
    total_kb = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            if Path(f"/proc/{pid}/cmdline").read_bytes() == own_cmdline:
                continue  # forked but not yet exec'd: still our memory image, not the run's
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


def _wait_and_kill(
    proc: subprocess.Popen[bytes], wall_time_s: float, marker: str
) -> tuple[bool, int | None, resource.struct_rusage | None, float]:
    """Wait for the child up to the wall time, kill whatever is left of its tree, then reap it.

    Leftovers are killed *before* the child is reaped, so its pid (the process group id) cannot have been reused.
    Only the direct child is waited for, and only for a bounded time: orphans never block the run.
    """
    pidfd = os.pidfd_open(proc.pid)
    deadline = time.monotonic() + wall_time_s
    peak_mb, interval = 0.0, 0.01
    try:
        exited = False
        while not exited and (remaining := deadline - time.monotonic()) > 0:
            exited = bool(select.select([pidfd], [], [], min(interval, remaining))[0])
            if not exited:
                peak_mb = max(peak_mb, _high_water_mb({proc.pid, *_marked_pids(marker)}))
                interval = min(interval * 2, 0.2)
        kill_processes(marker, pgid=proc.pid)
        if not exited:
            select.select([pidfd], [], [], REAP_GRACE_S)
    finally:
        os.close(pidfd)
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return not exited, None, None, peak_mb
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it, so Popen must not try again
    return not exited, status, usage, peak_mb
