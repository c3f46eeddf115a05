"""A memory cgroup for one run of the `local` (bubblewrap) backend, where this machine lets scientist make one.

Why: an address-space rlimit is a poor memory limit. It counts reserved, not used, memory (numpy's thread arenas,
mmapped files), and what it produces is a `MemoryError` the experiment may catch and carry on from. A memory
cgroup caps what the run really uses, page cache and in-memory /tmp included, and the kernel kills the run when it
is full: the same `oom_killed` (SIGKILL, counted by the kernel) as Docker reports.

When: a cgroup needs a writable memory controller. That is the case for root on cgroup v1 and v2, and for a user
whose systemd gave them a delegated v2 subtree with the memory controller enabled below it. Anywhere else (the
common unprivileged v2 case: a cgroup with processes in it cannot enable controllers for children, and creating a
scope needs a systemd user session) `MemoryCgroup.create` returns None with the reason, and the backend falls back
to RLIMIT_AS. The run's cgroup is a child of scientist's own, named after the workspace, so a crashed run's is
found and removed by the next one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

NAME_PREFIX = "scientist-sandbox-"
MOUNTINFO = Path("/proc/self/mountinfo")
OWN_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class MemoryCgroup:
    """One run's memory cgroup (v1 `memory` controller or v2 unified)."""

    path: Path
    version: int

    @property
    def procs_file(self) -> str:
        """What the child writes `0` into (before it drops privileges) to move itself here."""
        return str(self.path / "cgroup.procs")

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> tuple[MemoryCgroup | None, str]:
        """A fresh cgroup capped at `limit_bytes` (swap included), or None and why not."""
        found = _own_memory_cgroup()
        if isinstance(found, str):
            return None, found
        parent, version = found
        path = parent / f"{NAME_PREFIX}{name}"
        try:
            if path.exists():
                _destroy(path)  # left by a crashed run of the same workspace
            path.mkdir()
        except OSError as err:
            return None, f"cannot create a memory cgroup under {parent}: {err.strerror}"
        group = cls(path, version)
        try:
            if version == 1:
                (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                memsw = path / "memory.memsw.limit_in_bytes"
                if memsw.exists():  # swap accounting on: memory + swap gets the same cap, so no swapping past it
                    memsw.write_text(str(limit_bytes))
            else:
                (path / "memory.max").write_text(str(limit_bytes))
                with contextlib.suppress(FileNotFoundError):  # no swap controller: nothing to cap
                    (path / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):
                    (path / "memory.oom.group").write_text("1")  # kill the whole run, not one of its processes
        except OSError as err:
            group.destroy()
            return None, f"cannot set the memory limit in {path}: {err.strerror}"
        return group, ""

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer killed in this cgroup (kernel >= 4.13 on v1)."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def destroy(self) -> None:
        """Kill anything still in the cgroup and remove it (best effort: a leftover is removed by the next run)."""
        with contextlib.suppress(OSError):
            _destroy(self.path)


def memory_cgroup_support() -> str | None:
    """None if runs can get a memory cgroup here, else why not (for the backend's description and `doctor`)."""
    found = _own_memory_cgroup()
    return found if isinstance(found, str) else None


def remove_leftover(name: str) -> bool:
    """Remove the cgroup a crashed run named `name` left (killing what is still in it); True if there was one."""
    found = _own_memory_cgroup()
    path = None if isinstance(found, str) else found[0] / f"{NAME_PREFIX}{name}"
    if path is None or not path.exists():
        return False
    with contextlib.suppress(OSError):
        _destroy(path)
    return True


def _destroy(path: Path) -> None:
    for _ in range(50):
        pids = [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            path.rmdir()
            return
        except OSError:  # EBUSY until the killed processes are reaped
            time.sleep(0.02)
    path.rmdir()


def _own_memory_cgroup() -> tuple[Path, int] | str:
    """This process's memory cgroup folder and the cgroup version, if it can hold a child; else why not."""
    try:
        own = OWN_CGROUP.read_text().splitlines()
        mounts = [line.split() for line in MOUNTINFO.read_text().splitlines()]
    except OSError as err:
        return f"cannot read this process's cgroups: {err.strerror}"
    v1 = next((line.split(":", 2)[2] for line in own if "memory" in line.split(":", 2)[1].split(",")), None)
    for fields in mounts:
        separator = fields.index("-")
        fstype, options = fields[separator + 1], fields[separator + 3].split(",")
        mount_root, mount_point = fields[3], fields[4]
        if v1 is not None and fstype == "cgroup" and "memory" in options:
            folder = _inside(mount_point, mount_root, v1)
            if folder is not None and os.access(folder, os.W_OK):
                return folder, 1
        if v1 is None and fstype == "cgroup2":
            unified = next((line.split(":", 2)[2] for line in own if line.startswith("0::")), None)
            folder = _inside(mount_point, mount_root, unified) if unified is not None else None
            if folder is not None and _v2_can_delegate_memory(folder):
                return folder, 2
    return "no writable memory cgroup controller (needs root, or a delegated cgroup v2 subtree)"


def _inside(mount_point: str, mount_root: str, cgroup: str) -> Path | None:
    """Where `cgroup` (a path from /proc/self/cgroup) is under a mount of the hierarchy rooted at `mount_root`."""
    relative = os.path.relpath(cgroup, mount_root)
    if relative.startswith(".."):
        return None
    folder = Path(mount_point) / relative
    return folder if folder.is_dir() else None


def _v2_can_delegate_memory(folder: Path) -> bool:
    """Children of `folder` get the memory controller: already enabled, or we may enable it now."""
    try:
        if "memory" in (folder / "cgroup.subtree_control").read_text().split():
            return os.access(folder, os.W_OK)
        if "memory" not in (folder / "cgroup.controllers").read_text().split():
            return False
        (folder / "cgroup.subtree_control").write_text("+memory")  # EBUSY if `folder` holds processes
    except OSError:
        return False
    return True
