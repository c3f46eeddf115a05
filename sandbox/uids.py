"""A host user id of its own for each concurrent `local` (bubblewrap) run, when scientist runs as root.

Why: RLIMIT_NPROC is not a per-process limit. The kernel counts every task of the run's real user id on the host
against it, so runs that share one uid (they all ran as 65534, "nobody") share one budget: a run's limit was that
user's task count at its launch plus its `max_processes`, and a run started beside another saw the other's
processes grow into its budget until bubblewrap itself could not fork ("Creating new namespace failed: Resource
temporarily unavailable"); a fork bomb in one run starved every other. With a uid per run, the count is this
run's own tasks and nothing else, like Docker's pids cgroup. (Separate uids also keep runs from signalling or
reading each other's processes.)

How: the uids come from a documented range, `SCIENTIST_SANDBOX_UIDS="FIRST-LAST"` (default `DEFAULT_RANGE`:
0x70000000 onwards, which systemd's UID/GID allocation leaves unused: above the subordinate ids `useradd` hands
out, the container ranges of systemd-nspawn and the DynamicUser range, below 2^31). A run takes the first uid whose
lock file (`LOCK_DIR/<uid>.lock`) it can flock exclusively and that has no live task on the host, holds the lock
until its processes are reaped, then releases it. flock locks belong to the open file, so two threads of one
process and two processes (study cells, xdist workers) never get the same uid, and a crashed scientist's locks
vanish with it. The gid is the same number; the workspace is chowned to it before the run (the next run, with
perhaps another uid, chowns it again).

Where the range is not mapped in this user namespace (a container that maps only 65536 ids), runs fall back to
the shared uid 65534 with a warning: the old behaviour, budget shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from scientist.errors import SandboxError

RANGE_VAR = "SCIENTIST_SANDBOX_UIDS"
DEFAULT_RANGE = (0x7000_0000, 0x7000_0000 + 255)  # 1879048192-1879048447: 256 runs side by side
LOCK_DIR = Path("/run/scientist/sandbox-uids")
UID_MAP = Path("/proc/self/uid_map")


@dataclass(frozen=True)
class UidRange:
    """The uids runs may take (inclusive)."""

    first: int
    last: int

    @classmethod
    def from_env(cls) -> UidRange:
        """`SCIENTIST_SANDBOX_UIDS` ("FIRST-LAST") or the default; a clear error for anything else."""
        text = os.environ.get(RANGE_VAR, "").strip()
        if not text:
            return cls(*DEFAULT_RANGE)
        first, sep, last = text.partition("-")
        try:
            bounds = cls(int(first), int(last)) if sep else None
        except ValueError:
            bounds = None
        if bounds is None or not 0 < bounds.first <= bounds.last < 2**31:
            raise SandboxError(
                f"{RANGE_VAR}={text!r} is not a uid range",
                hint=f"write FIRST-LAST, e.g. {DEFAULT_RANGE[0]}-{DEFAULT_RANGE[1]} (root and ids past 2^31-1 are out)",
            )
        return bounds

    def __len__(self) -> int:
        return self.last - self.first + 1

    def mapped(self, uid_map: Path = UID_MAP) -> bool:
        """True if every uid of the range exists in this user namespace (setresuid fails on an unmapped one)."""
        try:
            rows = [[int(field) for field in line.split()] for line in uid_map.read_text().splitlines()]
        except (OSError, ValueError):
            return False
        return any(inside <= self.first and self.last < inside + count for inside, _, count in rows if count)


@dataclass
class UidLease:
    """One run's uid, held (its lock file open and flocked) until `release`."""

    uid: int
    _fd: int

    def release(self) -> None:
        """Unlock (closing the file drops the flock); the file stays for the next run. Idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def lease(uids: UidRange, lock_dir: Path = LOCK_DIR) -> UidLease:
    """The first free uid of the range: unlocked by any other run and without a live task on the host."""
    try:
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise SandboxError(f"cannot create {lock_dir} for the sandbox uid locks: {err.strerror}") from err
    busy = _uids_with_tasks()
    for uid in range(uids.first, uids.last + 1):
        if uid in busy:
            continue  # a leftover of a run whose processes outlived it: it would eat the next run's budget
        fd = os.open(lock_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except OSError as err:
            os.close(fd)
            raise SandboxError(f"cannot lock {lock_dir}/{uid}.lock: {err.strerror}") from err
        if uid in _uids_with_tasks():  # it started a task between the scan and the lock: not ours to take
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise SandboxError(
        f"all {len(uids)} sandbox uids ({uids.first}-{uids.last}) are taken by other local sandbox runs",
        hint=f"wait for them, lower the concurrency, or widen the range with {RANGE_VAR}=FIRST-LAST",
    )


def _uids_with_tasks() -> set[int]:
    """The real uids (what RLIMIT_NPROC counts by) of every live process on the host, from /proc/PID/status: the
    owner of /proc/PID is no guide, it is root for a process that is not dumpable."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, StopIteration):
                status = Path(f"/proc/{name}/status").read_text()
                found.add(int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]))
    return found
