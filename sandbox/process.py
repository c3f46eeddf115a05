"""Supervising a sandboxed process tree from the host: limits set between fork and exec, a wall clock, and a kill
that finds every descendant. Shared by the backends that start a host process (`local`, i.e. bubblewrap, and
`unsafe-subprocess`).

Finding the process tree: every process gets `SCIENTIST_SANDBOX_ID=<workspace hash>` in its environment and its
own session/process group. Killing the group catches ordinary children; scanning `/proc/*/environ` for the marker
catches children that double-fork or `setsid` out of the group. (A pid namespace, as bubblewrap and Docker give,
closes the remaining gap: a process that re-executes itself with a scrubbed environment.)
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import resource
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from scientist.sandbox.base import Limits

MARKER_VAR = "SCIENTIST_SANDBOX_ID"
REAP_GRACE_S = 5.0  # how long to wait for a SIGKILLed child before giving up on it (e.g. stuck in disk I/O)
KILL_ROUNDS = 50
PEAK_EVERY_S = 0.2  # the longest wait between two scans for the run's processes (peak memory; they back off to it)
CHECK_EVERY_S = 0.25  # how often the wall-clock loop runs the caller's `should_stop` check (e.g. output size)

# prctl(2) options and the capset(2) ABI (linux/prctl.h, linux/capability.h).
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_VERSION_3 = 0x20080522
# keyctl(2): join a new anonymous session keyring, so the run never shares the operator's (keys, tokens).
KEYCTL_JOIN_SESSION_KEYRING = 1
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())

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


class ChildSetup:
    """Runs in the child between fork and exec (`preexec_fn`): everything is prepared in the parent, so it imports
    nothing and takes no locks another thread might have held at fork time.

    Hard limits are set (equal to the soft ones; CPU gets 1 s more), so the experiment can lower but never raise
    them. With `uid` (the parent must be root), the child then becomes that user: RLIMIT_NPROC only binds
    non-root users, and an unprivileged uid owns nothing on the host. Otherwise, when the parent is root, uid 0
    alone would still let the child raise hard limits (CAP_SYS_RESOURCE) and write read-only files
    (CAP_DAC_OVERRIDE): emptying the capability bounding, ambient and inheritable sets makes the exec'd program
    an ordinary-privileged uid 0. No-new-privs stops setuid binaries from giving anything back. The parent-death
    signal is set last, because a change of user id clears it.
    """

    def __init__(
        self,
        rlimits: Sequence[tuple[int, int, int]],
        uid: int | None = None,
        before_user_switch: Callable[[], None] | None = None,
        cgroup_procs: str | None = None,
    ) -> None:
        self.rlimits = list(rlimits)
        self.cgroup_procs = cgroup_procs  # a cgroup's `cgroup.procs` to join first (it may need our privileges)
        self.uid = uid
        self.before_user_switch = before_user_switch  # work that still needs the parent's privileges
        self.last_cap = _last_capability()
        self.header = _CapHeader(CAP_VERSION_3, 0)
        self.data = (_CapData * 2)()

    def __call__(self) -> None:
        if self.cgroup_procs is not None:
            fd = os.open(self.cgroup_procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # "0" is the writing process: this child, before anything of the run exists
            finally:
                os.close(fd)
        for which, soft, hard in self.rlimits:
            resource.setrlimit(which, (soft, hard))
        if self.before_user_switch is not None:
            self.before_user_switch()
        if self.uid is not None:
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)
        if SYS_KEYCTL is not None:  # after the user switch, so the new keyring is the run user's own
            _LIBC.syscall(ctypes.c_long(SYS_KEYCTL), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), None)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # if scientist dies, its experiment dies with it
        for cap in range(self.last_cap + 1):
            _prctl(PR_CAPBSET_DROP, cap)
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        _LIBC.capset(ctypes.byref(self.header), ctypes.byref(self.data))
        _prctl(PR_SET_NO_NEW_PRIVS, 1)


def start_deferring_sigint(start: Callable[[], subprocess.Popen[bytes]], marker: str) -> subprocess.Popen[bytes]:
    """`start()` (a Popen) with Ctrl-C held back until it has returned, then delivered: the run stops.

    Why: CPython runs a signal's Python handler at the next bytecode, and while it forks that is often inside an
    at-fork callback (logging's `_releaseLock`), where an exception is printed ("Exception ignored in ...") and
    dropped. A Ctrl-C at a sandbox's start was lost and the run or study went on. So, on the main thread (the only
    one Python runs signal handlers in), SIGINT's handler is swapped for one that only records it, and the real
    handler is called once Popen is back, in ordinary code. If it raises (KeyboardInterrupt), the process just
    started is killed (its group and every process with the run's marker) and reaped first. Blocking the signal
    with pthread_sigmask instead would not do: the kernel then delivers it to another thread, and the main thread
    still runs the handler at its next bytecode, inside the callback.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        return start()  # no Python handler runs here (another thread), or none raises (SIG_IGN / SIG_DFL)
    caught: list[FrameType | None] = []

    def record(signum: int, frame: FrameType | None) -> None:
        caught.append(frame)

    proc: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGINT, record)
    try:
        proc = start()
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and proc is None:  # Popen failed as well: the interrupt wins
            previous(signal.SIGINT, caught[0])
    if caught:
        try:
            previous(signal.SIGINT, caught[0])
        except BaseException:
            kill_processes(marker, pgid=proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(REAP_GRACE_S)
            raise
    return proc


def rlimits_for(
    limits: Limits, uid: int | None = None, extra_processes: int = 0, address_space: bool = True
) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) triples, clamped to the parent's own hard limits (lowering never needs privilege).

    RLIMIT_AS caps address space, not resident memory: generous enough for numpy, fatal for runaway allocation.
    It is left out (`address_space=False`) when a memory cgroup holds the run instead.
    RLIMIT_CPU gets a 1 s gap so the run first sees SIGXCPU (a clear cause), then SIGKILL.
    RLIMIT_FSIZE also caps the stdout/stderr logs, which the child writes itself.
    RLIMIT_NPROC counts every task of the user id the run has (`uid`, default ours), not just this run's, so the
    limit is that user's current count plus `max_processes` (plus `extra_processes` for the supervisor's own).
    The kernel does not enforce it at all for root (uid 0 in the initial user namespace).
    """
    cpu = limits.effective_cpu_time_s
    nproc = _tasks_of_user(os.getuid() if uid is None else uid) + limits.max_processes + extra_processes
    wanted = [
        *([(resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)] if address_space else []),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_NPROC, nproc, nproc),
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


def workspace_marker(workspace: Path) -> str:
    return hashlib.sha256(str(workspace).encode()).hexdigest()[:24]


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


def marked_pids(marker: str) -> list[int]:
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
        survivors = marked_pids(marker)
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if not survivors:
            return
        time.sleep(0.02)


def high_water_mb(pids: Iterable[int]) -> float:
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


def descendants(pid: int, limit: int = 100_000) -> list[int]:
    """`pid` and every live process below it, from the kernel's child lists (/proc/PID/task/TID/children).

    Why not the marker in each environment: a process may exec with an empty environment; nothing it does takes it
    out of its parent's child list, and an orphan is adopted by the sandbox's own init, still below `pid`."""
    found: list[int] = []
    queue = [pid]
    while queue and len(found) < limit:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError, ValueError):
                    queue.extend(int(child) for child in Path(f"{task.path}/children").read_text().split())
    return found


def resident_mb(pids: Iterable[int]) -> float:
    """What the processes use now: the sum of their proportional set sizes (Pss, so pages a fork shares are counted
    once across the processes), or resident sizes where smaps_rollup cannot be read."""
    total_kb = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            try:
                text, field = Path(f"/proc/{pid}/smaps_rollup").read_text(), "Pss:"
            except OSError:
                text, field = Path(f"/proc/{pid}/status").read_text(), "VmRSS:"
            total_kb += next((int(line.split()[1]) for line in text.splitlines() if line.startswith(field)), 0)
    return total_kb / 1024


@dataclass
class Outcome:
    """How a supervised process ended: `wall_expired` (we killed it at the wall time), `stopped` (we killed it
    because `should_stop` said so), `memory_exceeded` (we killed it because its tree used more than the memory
    cap), its wait status and rusage (None if it could not be reaped), sampled peak."""

    wall_expired: bool
    stopped: bool
    status: int | None
    usage: resource.struct_rusage | None
    peak_mb: float
    memory_exceeded: bool = False


def wait_and_kill(
    proc: subprocess.Popen[bytes],
    wall_time_s: float,
    marker: str,
    should_stop: Callable[[], bool] | None = None,
    memory_cap_mb: float | None = None,
) -> Outcome:
    """Wait for the child up to the wall time, kill whatever is left of its tree, then reap it.

    Leftovers are killed *before* the child is reaped, so its pid (the process group id) cannot have been reused.
    Only the direct child is waited for, and only for a bounded time: orphans never block the run.
    `memory_cap_mb` (the local backend without a memory cgroup): the whole tree is killed once what its processes
    use together passes the cap. Per-process RLIMIT_AS alone lets n processes use n times the limit; this sum is
    sampled (every 10-50 ms), so a run may pass the cap briefly before it is stopped — a cgroup is exact.
    """
    pidfd = os.pidfd_open(proc.pid)
    deadline = time.monotonic() + wall_time_s
    next_check = time.monotonic() + CHECK_EVERY_S
    peak_mb, interval, next_peak, peak_interval = 0.0, 0.01, 0.0, 0.01
    # With a memory cap the tree is sampled at least every 50 ms, and before the slower peak scan (which reads every
    # process's environment in /proc): the sum is what stops a forking run, so it goes first and often.
    longest = 0.05 if memory_cap_mb is not None else PEAK_EVERY_S
    stopped = memory_exceeded = False
    try:
        exited = False
        while not exited and (remaining := deadline - time.monotonic()) > 0:
            exited = bool(select.select([pidfd], [], [], min(interval, remaining))[0])
            if not exited:
                interval = min(interval * 2, longest)
                if memory_cap_mb is not None and resident_mb(descendants(proc.pid)) > memory_cap_mb:
                    memory_exceeded = True
                    break
                if time.monotonic() >= next_peak:
                    next_peak = time.monotonic() + peak_interval
                    peak_interval = min(peak_interval * 2, PEAK_EVERY_S)
                    peak_mb = max(peak_mb, high_water_mb({proc.pid, *marked_pids(marker)}))
                if should_stop is not None and time.monotonic() >= next_check:
                    next_check = time.monotonic() + CHECK_EVERY_S
                    if should_stop():
                        stopped = True
                        break
        kill_processes(marker, pgid=proc.pid)
        if not exited:
            select.select([pidfd], [], [], REAP_GRACE_S)
    except BaseException:  # Ctrl-C (KeyboardInterrupt) while waiting: the run must not outlive the caller's stop
        kill_processes(marker, pgid=proc.pid)
        raise
    finally:
        os.close(pidfd)
    wall_expired = not exited and not stopped and not memory_exceeded
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return Outcome(wall_expired, stopped, None, None, peak_mb, memory_exceeded)
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it, so Popen must not try again
    return Outcome(wall_expired, stopped, status, usage, peak_mb, memory_exceeded)
