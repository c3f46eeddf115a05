"""The Docker backend (the default where an engine runs): one throwaway container per run, via the docker SDK.

Each container: no network (`network_mode=none`), memory capped with swap equal to it (no swap), a pids limit, a
CPU quota, a read-only root with a small tmpfs /tmp, the run's workspace as the only writable mount (at
/work/run), protected files and the manifest bound read-only on top (so a chmod cannot help either), uid 1000
(the image's `sandbox` user), every capability dropped, `no-new-privileges`, Docker's default seccomp profile,
and `--init` so signals work and leftover processes are reaped. Labels tie it to its workspace and run
(`scientist.workspace`, `scientist.run`), so `cleanup` and a resumed run remove what a crash left behind.

Limits are enforced from the host: the wall clock kills the container on expiry, stdout/stderr are streamed
into the log files and the container is killed when either passes `max_file_mb`, and total output in the
workspace is polled against `max_output_mb`. OOM kills come from the container state. A detached watchdog
process (`scientist.sandbox.watchdog`) holds the same deadline, so a harness killed with SIGKILL still has its
container removed at the wall time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions
from docker.types import LogConfig, Mount, Ulimit

from scientist.errors import SandboxError
from scientist.sandbox import watchdog
from scientist.sandbox.base import (
    SANDBOX_WORKDIR,
    Limits,
    RunResult,
    WorkspacePreparer,
    begin_run,
    container_command,
    container_env,
    finish_run,
    hand_over_workspace,
    output_bytes,
    pinned_folders,
    protected_entries,
    split_exit_status,
)
from scientist.sandbox.images import connect, default_image, docker_image_id
from scientist.sandbox.process import workspace_marker

SANDBOX_USER = (1000, 1000)  # the image's `sandbox` user (sandbox/image/Dockerfile)
LABEL = "scientist.sandbox"
WORKSPACE_LABEL = "scientist.workspace"
RUN_LABEL = "scientist.run"
POLL_FIRST_S, POLL_MAX_S = 0.01, 0.1
CHECK_EVERY_S = 0.25
STOP_GRACE_S = 10.0  # how long to wait for the engine to report a killed container as stopped
WAIT_CHUNK_S = 30  # the SDK's wait() needs a timeout; the waiter thread re-waits in chunks
_TIMEOUTS = (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError)  # the SDK raises either


class DockerSandbox(WorkspacePreparer):
    """Experiments in hardened throwaway containers (see the module docstring)."""

    backend: str = "docker"
    isolated: bool = True

    def __init__(self, run_label: str | None = None, image: str | None = None) -> None:
        self.client = connect()
        self.image = image or default_image()
        self.image_id = docker_image_id(self.client, self.image)
        self.run_label = run_label

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
        uid, gid = SANDBOX_USER if os.geteuid() == 0 else (os.getuid(), os.getgid())
        hand_over_workspace(plan.workspace, uid, gid, plan.manifest)
        marker = workspace_marker(plan.workspace)
        protected = [
            rel for rel in protected_entries(plan.manifest, plan.manifest_text) if (plan.workspace / rel).exists()
        ]
        mounts = [Mount(SANDBOX_WORKDIR, str(plan.workspace), type="bind", read_only=False)]
        mounts += [  # writable, but mount points: they cannot be moved aside (see pinned_folders)
            Mount(f"{SANDBOX_WORKDIR}/{rel}", str(plan.workspace / rel), type="bind", read_only=False)
            for rel in pinned_folders(protected)
        ]
        mounts += [
            Mount(f"{SANDBOX_WORKDIR}/{rel}", str(plan.workspace / rel), type="bind", read_only=True)
            for rel in protected
        ]
        labels = {LABEL: "1", WORKSPACE_LABEL: marker, RUN_LABEL: self.run_label or ""}
        cpu = limits.effective_cpu_time_s
        try:
            container = self.client.containers.create(
                self.image_id,
                argv,
                name=f"scientist-{marker[:12]}-{secrets.token_hex(3)}",
                labels=labels,
                user=f"{uid}:{gid}",
                working_dir=SANDBOX_WORKDIR,
                environment=container_env(SANDBOX_WORKDIR, None, env),
                hostname="sandbox",
                network_mode="none",
                mem_limit=limits.memory_bytes,
                memswap_limit=limits.memory_bytes,
                pids_limit=limits.max_processes + 1,  # + docker-init
                nano_cpus=int(limits.cpus * 1e9),
                ulimits=[
                    Ulimit(name="fsize", soft=limits.max_file_bytes, hard=limits.max_file_bytes),
                    Ulimit(name="cpu", soft=cpu, hard=cpu + 1),
                    Ulimit(name="core", soft=0, hard=0),
                ],
                read_only=True,
                tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmp_mb}m,mode=1777"},
                shm_size=limits.tmp_mb * 1024 * 1024,
                ipc_mode="private",
                cgroupns="private",  # the run sees its own cgroup as the root, not the host's hierarchy
                mounts=mounts,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                init=True,
                stdin_open=False,
                # The engine's own copy of the logs is bounded too; ours are streamed (and capped) below.
                log_config=LogConfig(
                    type=LogConfig.types.JSON,
                    config={"max-size": str(2 * limits.max_file_bytes + 1024 * 1024), "max-file": "1"},
                ),
            )
        except docker.errors.DockerException as err:
            raise SandboxError(f"cannot create the sandbox container: {err}", hint="run `scientist doctor`") from err
        try:
            return self._supervise(container, plan, argv, limits)
        finally:
            with contextlib.suppress(docker.errors.DockerException, *_TIMEOUTS):
                container.remove(force=True)

    def _supervise(self, container: Any, plan: Any, argv: list[str], limits: Limits) -> RunResult:
        try:
            container.start()
        except docker.errors.APIError as err:
            message = f"cannot start {argv[0]!r} in the sandbox: {err.explanation}"
            raise SandboxError(message, hint="check the command") from err
        started = time.monotonic()
        # The deadline also lives outside this process: a harness killed with SIGKILL cannot leave the run going.
        guard = watchdog.start(str(container.id), time.time() + limits.wall_time_s)
        try:
            return self._watch(container, plan, argv, limits, started)
        finally:
            watchdog.stop(guard)

    def _watch(self, container: Any, plan: Any, argv: list[str], limits: Limits, started: float) -> RunResult:
        waiter = _Waiter(container)
        pumps = [
            _LogPump(container, plan.stdout_path, limits.max_file_bytes, stdout=True),
            _LogPump(container, plan.stderr_path, limits.max_file_bytes, stdout=False),
        ]
        probe = _CgroupProbe(str(container.id))
        deadline = started + limits.wall_time_s
        next_check = started + CHECK_EVERY_S
        interval = POLL_FIRST_S
        wall_expired = stopped = False
        while not waiter.done.wait(min(interval, max(0.0, deadline - time.monotonic()))):
            now = time.monotonic()
            if now >= deadline:
                wall_expired = True
                break
            probe.sample()
            interval = min(interval * 2, POLL_MAX_S)
            if now >= next_check:
                next_check = now + CHECK_EVERY_S
                if any(pump.full for pump in pumps) or (
                    output_bytes(plan.workspace, plan.before, plan.before_disk) > limits.max_output_bytes
                ):
                    stopped = True
                    break
        wall_time_s = time.monotonic() - started
        if not waiter.done.is_set():
            with contextlib.suppress(docker.errors.DockerException, *_TIMEOUTS):
                container.kill()
            waiter.done.wait(STOP_GRACE_S)
        waiter.stop()
        for pump in pumps:
            pump.join(STOP_GRACE_S)
        try:
            container.reload()
            state = container.attrs.get("State", {})
        except docker.errors.DockerException:
            state = {}
        code = state.get("ExitCode")
        exit_code: int | None
        sig: int | None
        if wall_expired or stopped:
            exit_code, sig = None, int(signal.SIGKILL)
        else:
            exit_code, sig = split_exit_status(code if isinstance(code, int) else None)
        timed_out = wall_expired or sig == signal.SIGXCPU
        return finish_run(
            plan,
            backend=self.backend,
            command=argv,
            limits=limits,
            exit_code=exit_code,
            sig=sig,
            timed_out=timed_out,
            oom_killed=bool(state.get("OOMKilled")),
            output_limit_hit=stopped,
            cpu_time_s=probe.cpu_s,
            peak_memory_mb=probe.peak_mb,
            image=self.image_id,
            wall_time_s=wall_time_s,
        )

    def cleanup(self, workspace: Path) -> None:
        """Remove every container this workspace left behind (after a crash; safe from another process)."""
        remove_containers(self.client, {WORKSPACE_LABEL: workspace_marker(Path(workspace).resolve())})


def remove_containers(client: Any, labels: Mapping[str, str] | None = None) -> int:
    """Force-remove sandbox containers (all of them, or those carrying `labels`); returns how many."""
    wanted = [LABEL, *(f"{key}={value}" for key, value in (labels or {}).items())]
    removed = 0
    # ignore_removed: a container that ends (auto-removed) between the listing and its inspection is no error
    for container in client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
            removed += 1
    return removed


def cleanup_run(run_label: str) -> int:
    """Remove the containers a run left (call on resume and on `scientist cleanup`)."""
    client = connect()
    try:
        return remove_containers(client, {RUN_LABEL: run_label})
    finally:
        client.close()


class _Waiter:
    """Waits for the container in a thread, so the main loop sees the exit at once and still polls limits."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._wait, name="sandbox-wait", daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        while not self._stop.is_set():
            try:
                self.container.wait(timeout=WAIT_CHUNK_S)
            except _TIMEOUTS:
                continue
            except docker.errors.DockerException:
                pass
            break
        self.done.set()

    def stop(self) -> None:
        self._stop.set()


class _LogPump:
    """Streams one of the container's output streams into a log file, keeping at most `cap` bytes.

    `full` turns true once the cap is reached: the supervisor then kills the run (as RLIMIT_FSIZE would stop a
    process writing its own log in the other backends).
    """

    def __init__(self, container: Any, path: Path, cap: int, *, stdout: bool) -> None:
        self.container, self.path, self.cap, self.stdout = container, path, cap, stdout
        self.full = False
        self._thread = threading.Thread(target=self._pump, name="sandbox-log", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        written = 0
        with self.path.open("wb") as handle, contextlib.suppress(docker.errors.DockerException, *_TIMEOUTS):
            stream = self.container.logs(stdout=self.stdout, stderr=not self.stdout, stream=True, follow=True)
            for chunk in stream:
                if written + len(chunk) >= self.cap:
                    handle.write(chunk[: self.cap - written])
                    self.full = True
                    break
                handle.write(chunk)
                written += len(chunk)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class _CgroupProbe:
    """Peak memory and CPU time of a running container, read from its cgroup on this host.

    The engine reports neither after exit, so they are sampled while the run lasts (a run shorter than the first
    sample reports 0). cgroup v1 (cgroupfs driver) and v2 (cgroupfs or systemd driver) layouts are tried.
    """

    def __init__(self, container_id: str) -> None:
        self.id = container_id
        self.peak_mb = 0.0
        self.cpu_s = 0.0
        self._memory: Path | None = None
        self._cpu: Path | None = None
        self._located = False

    def _locate(self) -> None:
        root = Path("/sys/fs/cgroup")
        v2_dirs = [root / "docker" / self.id, root / "system.slice" / f"docker-{self.id}.scope"]
        memory = [root / "memory" / "docker" / self.id / "memory.max_usage_in_bytes"]
        memory += [d / "memory.peak" for d in v2_dirs]
        cpu = [root / "cpuacct" / "docker" / self.id / "cpuacct.usage", *(d / "cpu.stat" for d in v2_dirs)]
        self._memory = next((path for path in memory if path.exists()), None)
        self._cpu = next((path for path in cpu if path.exists()), None)
        self._located = self._memory is not None or self._cpu is not None

    def sample(self) -> None:
        if not self._located:
            self._locate()
        with contextlib.suppress(OSError, ValueError):
            if self._memory is not None:
                self.peak_mb = max(self.peak_mb, int(self._memory.read_text().split()[0]) / 2**20)
            if self._cpu is not None:
                text = self._cpu.read_text()
                if self._cpu.name == "cpu.stat":
                    usec = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("usage_usec"))
                    self.cpu_s = max(self.cpu_s, usec / 1e6)
                else:
                    self.cpu_s = max(self.cpu_s, int(text) / 1e9)
