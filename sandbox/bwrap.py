"""The `local` backend (bubblewrap): isolation without a container engine, for machines that have no Docker.

Chosen as `--sandbox local` (`bwrap` is its older name and still works); results and audit records say `local`.

The experiment runs in fresh user, pid, network, ipc, uts and cgroup namespaces (`--unshare-all`; no network at
all, not even the host's loopback), on a read-only root: the sandbox image's unpacked root filesystem when it was
built (`scientist sandbox build`, the same Debian packages as the Docker image) or else the host's /usr. The
workspace is the only writable host folder, mounted at /work/run; protected files and the manifest are bound
read-only on top of it, so neither a write nor a chmod can change them. /tmp and /dev/shm are small tmpfs.
Nested user namespaces are disabled (`--disable-userns`), the session is new (no TIOCSTI into the host's
terminal), and the whole namespace dies with scientist (`--die-with-parent`). The command is the namespace's
pid 1 (`--as-pid-1`): when it exits, the kernel kills everything it left behind, and its CPU time reaches
`wait4` (bwrap's own init would drop it).

Limits are rlimits set before bwrap starts (CPU, processes, file size) plus the host's wall clock; total output
is polled and the run stopped past `max_output_mb`. Memory: where scientist may create a memory cgroup (root, or a
delegated cgroup v2 subtree; `scientist.sandbox.cgroup`) the run is put in one capped at `memory_mb` and an
overrun is an OOM kill counted by the kernel, as in Docker; elsewhere memory is capped as address space
(RLIMIT_AS: a MemoryError, reported as `oom_killed` from the log), and the harness sums what the run's whole
process tree uses (Pss) while it waits, killing the run past `memory_mb` (RLIMIT_AS alone is per process: n
processes could use n times the cap). A seccomp filter (`scientist.sandbox.seccomp`,
a deny-list: keyring, ptrace, bpf, io_uring, namespaces, mounts, modules, ...) is applied right before the command
runs; with `keyctl` denied, the operator's session keyring is out of reach.

Started as root, the run drops to a uid of its own *before* bwrap (`scientist.sandbox.uids`: one per concurrent run
from a locked range, the workspace chowned to it), so RLIMIT_NPROC binds (root is exempt from it) and counts this
run's tasks only, and the sandbox owns nothing else on the host. Where that range is not mapped in scientist's user
namespace, every run is uid 65534 and runs side by side share one budget (a warning says so). Not as root, the run
keeps scientist's uid and its budget is that user's task count at launch plus `max_processes`. A run's own uid
cannot reach paths under private folders (a root-owned run folder in /root, pytest's /tmp/pytest-of-root), so the
child first enters a private mount namespace and, still as root, binds the workspace and root filesystem into a
tmpfs staging folder that bwrap can read. Those mounts are invisible to the host and vanish with the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scientist.errors import SandboxError
from scientist.sandbox import seccomp, uids
from scientist.sandbox.base import (
    SANDBOX_WORKDIR,
    Limits,
    RunPlan,
    RunResult,
    WorkspacePreparer,
    begin_run,
    container_command,
    container_env,
    finish_run,
    hand_over_workspace,
    looks_oom_killed,
    output_bytes,
    pinned_folders,
    protected_entries,
    read_tail,
    split_exit_status,
)
from scientist.sandbox.cgroup import MemoryCgroup, memory_cgroup_support, remove_leftover
from scientist.sandbox.images import BUILD_HINT, find_rootfs, rootfs_identity
from scientist.sandbox.process import (
    MARKER_VAR,
    ChildSetup,
    Outcome,
    kill_processes,
    rlimits_for,
    start_deferring_sigint,
    wait_and_kill,
    workspace_marker,
)

SANDBOX_UID = 65534  # nobody: the shared fallback where no range of per-run uids is mapped (scientist.sandbox.uids)
STAGE_CANDIDATES = ("/srv", "/media", "/opt", "/mnt")  # any existing folder; covered only in the child's namespace
ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
BWRAP_PROCESSES = 2  # bwrap's own monitor and the namespace's init count against RLIMIT_NPROC too

# unshare(2) and mount(2) flags (linux/sched.h, linux/mount.h).
CLONE_NEWNS = 0x00020000
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

log = logging.getLogger("scientist.sandbox")
_LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Layout:
    """Where bwrap finds its sources (host paths, or paths in the staging tmpfs when started as root)."""

    workspace: str
    rootfs: str | None  # None: bind the host's /usr
    real_root: Path  # the same root filesystem as the parent sees it (to read its /bin -> usr/bin links)


def bwrap_args(
    bwrap: str,
    layout: Layout,
    protected: Sequence[str],
    command: Sequence[str],
    env: Mapping[str, str],
    limits: Limits,
    status_fd: int,
    seccomp_fd: int | None = None,
    data_files: Mapping[str, int] | None = None,
) -> list[str]:
    """The bwrap command line (pure, so it can be read and tested on its own). `data_files`: sandbox path -> a
    file descriptor whose content bwrap copies there, read-only (over the root filesystem's own file)."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]
    args += ["--as-pid-1"]  # no intermediate init: bwrap then reaps the command itself, so rusage (CPU) adds up
    args += ["--hostname", "sandbox", "--json-status-fd", str(status_fd)]
    if seccomp_fd is not None:  # applied right before the command runs (scientist.sandbox.seccomp)
        args += ["--seccomp", str(seccomp_fd)]
    root = layout.real_root
    if layout.rootfs:
        args += ["--ro-bind", f"{layout.rootfs}/usr", "/usr", "--ro-bind", f"{layout.rootfs}/etc", "/etc"]
    else:  # no image: the host's programs and libraries, but not its /etc (passwords, keys, host config)
        args += ["--ro-bind", "/usr", "/usr"]
    for dest, fd in (data_files or {}).items():
        args += ["--ro-bind-data", str(fd), dest]
    for link in ROOT_LINKS:
        with contextlib.suppress(OSError):
            args += ["--symlink", os.readlink(root / link), f"/{link}"]
    tmp_bytes = str(limits.tmp_mb * 1024 * 1024)
    args += ["--proc", "/proc", "--dev", "/dev", "--size", tmp_bytes, "--tmpfs", "/dev/shm"]
    args += ["--size", tmp_bytes, "--tmpfs", "/tmp"]
    args += ["--bind", layout.workspace, SANDBOX_WORKDIR]
    for rel in pinned_folders(protected):  # writable, but mount points: they cannot be moved aside
        args += ["--bind", f"{layout.workspace}/{rel}", f"{SANDBOX_WORKDIR}/{rel}"]
    for rel in protected:
        args += ["--ro-bind", f"{layout.workspace}/{rel}", f"{SANDBOX_WORKDIR}/{rel}"]
    args += ["--remount-ro", "/", "--chdir", SANDBOX_WORKDIR, "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return [*args, "--", *command]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


class _Stager:
    """In the child, as root, before it becomes uid 65534: a private mount namespace with the sources bound under
    `stage` (runs between fork and exec, so it only makes system calls)."""

    def __init__(self, stage: str, sources: Mapping[str, str]) -> None:
        self.stage = stage.encode()
        self.sources = [(name.encode(), path) for name, path in sources.items()]

    def __call__(self) -> None:
        _check(_LIBC.unshare(CLONE_NEWNS), "unshare")
        _check(_LIBC.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
        # Open the sources before the tmpfs goes on: it may cover them (a workspace under the staging folder).
        fds = [(name, os.open(path, os.O_PATH | os.O_CLOEXEC)) for name, path in self.sources]
        _check(_LIBC.mount(b"tmpfs", self.stage, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"), "stage")
        for name, fd in fds:
            target = self.stage + b"/" + name
            os.mkdir(target)
            _check(_LIBC.mount(f"/proc/self/fd/{fd}".encode(), target, None, MS_BIND | MS_REC, None), "bind")
            os.close(fd)  # an O_PATH fd to a host folder must never reach the sandbox


def _stage_dir(bwrap: str) -> str:
    for candidate in STAGE_CANDIDATES:
        if Path(candidate).is_dir() and not bwrap.startswith(candidate + "/"):
            return candidate
    raise SandboxError(
        "no folder to stage the sandbox's mounts in", hint=f"create one of {', '.join(STAGE_CANDIDATES)}"
    )


class BwrapSandbox(WorkspacePreparer):
    """Experiments in bubblewrap namespaces on a read-only root (see the module docstring)."""

    backend: str = "local"
    isolated: bool = True

    def __init__(self, run_label: str | None = None, rootfs: Path | None = None, memory_cgroup: bool = True) -> None:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxError("bubblewrap (bwrap) is not installed", hint="apt-get install bubblewrap")
        self.bwrap = bwrap
        self.run_label = run_label
        self.rootfs = Path(rootfs) if rootfs else find_rootfs()
        if self.rootfs is None:
            log.warning(
                "local (bwrap) sandbox: no sandbox root filesystem, so experiments get the host's /usr/bin/python3 "
                "without numpy/scipy/matplotlib unless Debian installed them (%s)",
                BUILD_HINT,
            )
        self.image = rootfs_identity(self.rootfs) if self.rootfs else "host:/usr"
        # Started as root: a uid per run (scientist.sandbox.uids), or the shared 65534 where the range is unmapped
        self.uids: uids.UidRange | None = None
        self.uid: int | None = None
        if os.geteuid() == 0:
            self.uids = uids.UidRange.from_env()
            if not self.uids.mapped():
                log.warning(
                    "local sandbox: uids %d-%d are not mapped in this user namespace, so every run shares uid %d "
                    "and one RLIMIT_NPROC budget (set %s to a mapped range)",
                    self.uids.first, self.uids.last, SANDBOX_UID, uids.RANGE_VAR,
                )  # fmt: skip
                self.uids, self.uid = None, SANDBOX_UID
        # "cgroup": memory capped by a memory cgroup per run; "rlimit-as": by address space (see the docstring)
        why_not = memory_cgroup_support() if memory_cgroup else "disabled by the caller"
        self.memory_control = "cgroup" if why_not is None else "rlimit-as"
        if why_not is not None and memory_cgroup:
            log.info("local sandbox: memory is capped as address space (RLIMIT_AS): %s", why_not)

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
        argv = container_command(command)
        plan = begin_run(workspace, out_dir, log_dir)
        marker = workspace_marker(plan.workspace)
        entries = protected_entries(plan.manifest, plan.manifest_text)
        protected = [rel for rel in entries if (plan.workspace / rel).exists()]
        lease: uids.UidLease | None = None
        try:
            lease = uids.lease(self.uids) if self.uids is not None else None
            outcome, started, oom_kills, cgroup_memory = self._supervise(
                plan, marker, protected, argv, limits, env, lease.uid if lease else self.uid
            )
        finally:
            if lease is not None:  # after the run's processes were killed and reaped (or never started)
                lease.release()
        if not started and not outcome.wall_expired:
            raise SandboxError(
                f"bubblewrap could not set up the sandbox: {read_tail(plan.stderr_path, 600).strip()}",
                hint="unprivileged user namespaces must be enabled (`scientist doctor`); or use --sandbox docker",
            )
        status, usage = outcome.status, outcome.usage
        exit_code: int | None
        sig: int | None
        if status is not None and os.WIFSIGNALED(status):  # we killed bwrap itself (wall clock, output cap)
            exit_code, sig = None, os.WTERMSIG(status)
        else:  # bwrap reports its child's death by signal N as exit status 128 + N
            exit_code, sig = split_exit_status(os.WEXITSTATUS(status) if status is not None else None)
        stderr_tail = read_tail(plan.stderr_path)
        if exit_code == 1 and "bwrap: execvp" in stderr_tail:
            message = f"cannot start {argv[0]!r} in the sandbox: {stderr_tail.strip()}"
            raise SandboxError(message, hint="check the command")
        cpu_time_s = usage.ru_utime + usage.ru_stime if usage else 0.0
        cpu_limit_hit = sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_time_s >= limits.effective_cpu_time_s)
        timed_out = outcome.wall_expired or cpu_limit_hit
        if cgroup_memory:  # the kernel counted it
            oom_killed = oom_kills > 0
        else:  # the tree's sum passed the cap, a failed allocation in the log, or a SIGKILL we did not send
            sent = timed_out or outcome.stopped or outcome.memory_exceeded
            oom_killed = outcome.memory_exceeded or looks_oom_killed(exit_code, sig, sent, stderr_tail)
        return finish_run(
            plan,
            backend=self.backend,
            command=argv,
            limits=limits,
            exit_code=exit_code,
            sig=sig,
            timed_out=timed_out,
            oom_killed=oom_killed,
            output_limit_hit=outcome.stopped,
            cpu_time_s=cpu_time_s,
            peak_memory_mb=outcome.peak_mb,
            image=self.image,
        )

    def _supervise(
        self,
        plan: RunPlan,
        marker: str,
        protected: Sequence[str],
        argv: Sequence[str],
        limits: Limits,
        env: Mapping[str, str] | None,
        uid: int | None,
    ) -> tuple[Outcome, bool, int, bool]:
        """Start bwrap as `uid` (None: as ourselves) and wait for it: (outcome, whether bwrap started the command,
        OOM kills counted by the run's memory cgroup, whether there was one). Every process is gone on return."""
        group: MemoryCgroup | None = None
        if self.memory_control == "cgroup":
            group, why_not = MemoryCgroup.create(marker, limits.memory_bytes)
            if group is None:
                log.warning("local sandbox: no memory cgroup for this run (%s); capping address space", why_not)
        procs = group.procs_file if group else None
        rlimits = rlimits_for(limits, uid=uid, extra_processes=BWRAP_PROCESSES, address_space=group is None)
        if uid is not None:
            hand_over_workspace(plan.workspace, uid, uid, plan.manifest)
            stage = _stage_dir(self.bwrap)
            sources = {"workspace": str(plan.workspace)}
            if self.rootfs:
                sources["rootfs"] = str(self.rootfs)
            layout = Layout(f"{stage}/workspace", f"{stage}/rootfs" if self.rootfs else None, self.rootfs or Path("/"))
            setup = ChildSetup(rlimits, uid, before_user_switch=_Stager(stage, sources), cgroup_procs=procs)
        else:
            layout = Layout(str(plan.workspace), str(self.rootfs) if self.rootfs else None, self.rootfs or Path("/"))
            setup = ChildSetup(rlimits, cgroup_procs=procs)

        status_read, status_write = os.pipe()
        filter_fd = seccomp.program_fd()
        data_fds = {dest: _memfd(text) for dest, text in _user_entries(self.rootfs, uid).items()}
        inner_env = container_env(SANDBOX_WORKDIR, marker, env)
        args = bwrap_args(self.bwrap, layout, protected, argv, inner_env, limits, status_write, filter_fd, data_fds)
        passed = (status_write, *([] if filter_fd is None else [filter_fd]), *data_fds.values())
        try:
            with plan.stdout_path.open("wb") as stdout, plan.stderr_path.open("wb") as stderr:
                try:
                    proc = start_deferring_sigint(
                        lambda: subprocess.Popen(
                            args,
                            cwd="/",
                            env={"PATH": "/usr/bin:/bin", MARKER_VAR: marker},
                            stdin=subprocess.DEVNULL,
                            stdout=stdout,
                            stderr=stderr,
                            start_new_session=True,
                            preexec_fn=setup,
                            pass_fds=passed,
                        ),
                        marker,
                    )
                except (OSError, subprocess.SubprocessError) as err:
                    raise SandboxError(f"cannot start bubblewrap: {err}", hint="run `scientist doctor`") from err
            os.close(status_write)
            status_write = -1
            if filter_fd is not None:
                os.close(filter_fd)
                filter_fd = None
            for fd in data_fds.values():
                os.close(fd)
            data_fds = {}
            outcome = wait_and_kill(
                proc,
                limits.wall_time_s,
                marker,
                should_stop=lambda: (
                    output_bytes(plan.workspace, plan.before, plan.before_disk) > limits.max_output_bytes
                ),
                memory_cap_mb=None if group is not None else limits.memory_mb,
            )
            started = _child_started(status_read)
            oom_kills = group.oom_kills() if group else 0
        finally:
            os.close(status_read)
            if status_write >= 0:
                os.close(status_write)
            if filter_fd is not None:
                os.close(filter_fd)
            for fd in data_fds.values():
                os.close(fd)
            if group is not None:
                group.destroy()
        return outcome, started, oom_kills, group is not None

    def cleanup(self, workspace: Path) -> None:
        """Kill anything still marked with this workspace (normally nothing: the namespace dies with its parent)
        and remove a memory cgroup a crashed run of it left."""
        marker = workspace_marker(Path(workspace).resolve())
        kill_processes(marker)
        remove_leftover(marker)


def _user_entries(rootfs: Path | None, uid: int | None) -> dict[str, bytes]:
    """/etc/passwd and /etc/group of the root filesystem plus a `sandbox` entry for a run's own uid, so
    `getpass.getuser()` and `pwd.getpwuid()` answer inside as they did for 65534 ("nobody"); nothing to add for a
    uid the files already name, or without a root filesystem (no /etc is mounted then)."""
    if rootfs is None or uid is None:
        return {}
    entries = {"/etc/passwd": f"sandbox:x:{uid}:{uid}:scientist sandbox run:{SANDBOX_WORKDIR}:/usr/sbin/nologin\n"}
    entries["/etc/group"] = f"sandbox:x:{uid}:\n"
    files = {}
    for dest, line in entries.items():
        try:
            text = (rootfs / dest.lstrip("/")).read_text()
        except OSError:
            continue
        if any(row.split(":")[2:3] == [str(uid)] for row in text.splitlines()):
            return {}
        files[dest] = (text if text.endswith("\n") or not text else text + "\n").encode() + line.encode()
    return files


def _memfd(content: bytes) -> int:
    """An anonymous in-memory file holding `content`, read from its start (bwrap copies it into the sandbox)."""
    fd = os.memfd_create("scientist-sandbox", os.MFD_CLOEXEC)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _child_started(status_fd: int) -> bool:
    """bwrap writes `{"child-pid": N, ...}` to --json-status-fd once the sandboxed command was forked."""
    os.set_blocking(status_fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(status_fd, 65536):
            data += chunk
    return b'"child-pid"' in data
