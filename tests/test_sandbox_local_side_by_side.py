"""`local` sandboxes started side by side, and Ctrl-C at a sandbox's start.

Side by side: RLIMIT_NPROC counts every task of a user id on the host. When every run was uid 65534, runs
started together shared one budget: bubblewrap failed to fork ("Creating new namespace failed: Resource
temporarily unavailable", seen in CI beside a study's runs) and one run's fork bomb starved the others. Started
as root, each run now has a uid of its own (scientist.sandbox.uids). These tests start several real runs at once,
in threads and in separate processes, each forking well within its budget, and a fork bomb beside an honest run.

Ctrl-C: a SIGINT that lands while Python forks the sandbox process used to be raised inside an at-fork callback,
where CPython drops it, and the run went on. Here the signal is sent from exactly there.

Nothing is mocked: real bwrap namespaces and uids. Skipped without bwrap (failed under CI=true).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scientist.errors import SandboxError
from scientist.sandbox import Limits, RunResult, get_sandbox
from scientist.sandbox import uids as sandbox_uids
from scientist.sandbox.process import marked_pids, workspace_marker
from tests.test_sandbox_docker import make_workspace, require

RUNS = 4
CHILDREN = 12  # per run, all alive at once: 4 runs x (12 + python + bwrap's 2) = 60 tasks, each run's budget 16
BUDGET = Limits(wall_time_s=60, memory_mb=256, max_processes=16)

# Forks its children one by one (so runs started together overlap while they grow), holds them all, reaps them.
FORKER = f"""
import os, time
children = []
for _ in range({CHILDREN}):
    pid = os.fork()
    if pid == 0:
        time.sleep(1.5)
        os._exit(0)
    children.append(pid)
    time.sleep(0.05)
failed = sum(os.waitpid(pid, 0)[1] != 0 for pid in children)
print("forked", len(children), "failed", failed, "uid", os.getuid(), flush=True)
"""

# Not exponential, worse for a neighbour: takes every process it can get and holds them to the wall clock.
FORK_BOMB = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        n += 1
except OSError as err:
    print("stopped after", n, "forks:", err.strerror, flush=True)
time.sleep(120)
"""


def run(sandbox: Any, workspace: Path, limits: Limits = BUDGET) -> RunResult:
    result: RunResult = sandbox.run(
        workspace, ["python", "main.py"], limits, out_dir="out", log_dir=workspace.parent / "logs"
    )
    return result


def in_threads(jobs: list[Any]) -> list[Any]:
    """Run the callables at once (a barrier before each), return their results or exceptions, in order."""
    results: list[Any] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(index: int) -> None:
        barrier.wait()
        try:
            results[index] = jobs[index]()
        except Exception as err:  # reported by the assertion, with the others' results
            results[index] = err

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results


def assert_all_forked(results: list[Any]) -> None:
    for result in results:
        assert isinstance(result, RunResult) and result.ok, results
        assert f"forked {CHILDREN} failed 0" in result.stdout_tail, result.stdout_tail
    if os.geteuid() == 0:  # each its own user: that is what keeps the budgets apart
        used = {int(result.stdout_tail.split()[-1]) for result in results}
        assert len(used) == len(results) and 0 not in used and 65534 not in used, used


def test_local_runs_started_together_in_threads_each_fork_within_their_own_budget(tmp_path: Path) -> None:
    sandbox: Any = require("local")
    workspaces = [make_workspace(sandbox, tmp_path / f"run{index}", FORKER) for index in range(RUNS)]
    results = in_threads([lambda ws=ws: run(sandbox, ws) for ws in workspaces])
    assert_all_forked(results)


PROCESS_RUN = """
import sys, time
from pathlib import Path
from scientist.sandbox import Limits, get_sandbox
workspace, go = Path(sys.argv[1]), Path(sys.argv[2])
sandbox = get_sandbox("local")
(workspace.parent / "ready").touch()
while not go.exists():
    time.sleep(0.01)
result = sandbox.run(workspace, ["python", "main.py"], Limits.model_validate_json(sys.argv[3]), out_dir="out",
                     log_dir=workspace.parent / "logs")
print(result.model_dump_json())
"""


def test_local_runs_started_together_by_separate_processes_each_fork_within_their_own_budget(tmp_path: Path) -> None:
    """Two scientist processes (study cells, xdist workers) must never hand out the same uid: the lock is a file."""
    sandbox: Any = require("local")
    workspaces = [make_workspace(sandbox, tmp_path / f"run{index}", FORKER) for index in range(RUNS)]
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_RUN, str(ws), str(go), BUDGET.model_dump_json()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ws in workspaces
    ]
    deadline = time.monotonic() + 120  # each process has imported scientist and waits for the go file
    while time.monotonic() < deadline and not all((ws.parent / "ready").exists() for ws in workspaces):
        time.sleep(0.05)
    go.touch()
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
        results.append(RunResult.model_validate_json(stdout.strip().splitlines()[-1]))
    assert_all_forked(results)


def test_a_fork_bomb_is_held_to_its_own_budget_and_a_concurrent_honest_run_still_forks(tmp_path: Path) -> None:
    """The honest run starts first and grows; the bomb starts while it does. Sharing a uid, the bomb's limit
    included the honest run's processes (so it got more than its budget) and took the honest run's forks."""
    sandbox: Any = require("local")
    honest_ws = make_workspace(sandbox, tmp_path / "honest", FORKER)
    bomb_ws = make_workspace(sandbox, tmp_path / "bomb", FORK_BOMB)
    bomb_limits = Limits(wall_time_s=6, memory_mb=256, max_processes=16)

    def bomb() -> RunResult:
        time.sleep(0.3)  # the honest run is forking now
        return run(sandbox, bomb_ws, bomb_limits)

    honest, bombed = in_threads([lambda: run(sandbox, honest_ws), bomb])
    assert_all_forked([honest])
    assert isinstance(bombed, RunResult) and bombed.timed_out and not bombed.ok, bombed
    forks = int(bombed.stdout_tail.split("stopped after ")[1].split()[0])
    # its own python, its children, plus bwrap's monitor and init: exactly the budget, never a neighbour's share
    assert 0 < forks <= bomb_limits.max_processes, bombed.stdout_tail
    assert marked_pids(workspace_marker(bomb_ws.resolve())) == []


def test_a_runs_own_uid_has_a_name_inside_as_nobody_had(tmp_path: Path) -> None:
    """Libraries ask who they are (getpass.getuser(), pwd): the run's uid is `sandbox` in its /etc/passwd and
    /etc/group, which are otherwise the root filesystem's, unchanged on the host."""
    sandbox: Any = require("local")
    if os.geteuid() != 0:
        pytest.skip("without root the run keeps the operator's uid")
    script = """
    import getpass, grp, os, pwd
    me = pwd.getpwuid(os.getuid())
    print(getpass.getuser(), me.pw_dir, grp.getgrgid(os.getgid()).gr_name, pwd.getpwnam("root").pw_uid)
    open("/etc/passwd", "a")
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=256))
    assert result.stdout_tail == "sandbox /work/run sandbox 0\n", result
    assert "Read-only file system" in result.stderr_tail or "Permission denied" in result.stderr_tail
    assert "sandbox:" not in (sandbox.rootfs / "etc" / "passwd").read_text()


# --- the uid range and its locks (scientist.sandbox.uids) ---


def test_uid_leases_never_share_a_uid_and_a_released_one_is_taken_again(tmp_path: Path) -> None:
    span = sandbox_uids.UidRange(0x7000_1000, 0x7000_1001)
    first, second = sandbox_uids.lease(span, tmp_path), sandbox_uids.lease(span, tmp_path)
    assert {first.uid, second.uid} == {span.first, span.last}
    with pytest.raises(SandboxError, match="all 2 sandbox uids") as taken:
        sandbox_uids.lease(span, tmp_path)
    assert sandbox_uids.RANGE_VAR in (taken.value.hint or "")
    first.release()
    first.release()  # idempotent
    again = sandbox_uids.lease(span, tmp_path)
    assert again.uid == first.uid
    again.release()
    second.release()


def test_a_uid_that_still_has_a_process_on_the_host_is_skipped(tmp_path: Path) -> None:
    """A run's leftover (or anyone's process) under a uid would eat the next run's RLIMIT_NPROC budget."""
    if os.geteuid() != 0:
        pytest.skip("starting a process as another uid needs root")
    span = sandbox_uids.UidRange(0x7000_2000, 0x7000_2003)
    squatter = subprocess.Popen(["sleep", "30"], user=span.first, group=span.first)
    try:
        held = sandbox_uids.lease(span, tmp_path)
        assert held.uid == span.first + 1
        held.release()
    finally:
        squatter.kill()
        squatter.wait()


def test_the_uid_range_is_read_from_the_environment_and_bad_ranges_are_refused(monkeypatch: Any) -> None:
    monkeypatch.delenv(sandbox_uids.RANGE_VAR, raising=False)
    assert sandbox_uids.UidRange.from_env() == sandbox_uids.UidRange(*sandbox_uids.DEFAULT_RANGE)
    monkeypatch.setenv(sandbox_uids.RANGE_VAR, "200000-200009")
    assert len(sandbox_uids.UidRange.from_env()) == 10
    for bad in ("200000", "0-10", "9-3", "a-b", "100-4294967295"):
        monkeypatch.setenv(sandbox_uids.RANGE_VAR, bad)
        with pytest.raises(SandboxError, match="is not a uid range"):
            sandbox_uids.UidRange.from_env()


def test_a_range_outside_the_user_namespaces_uid_map_is_reported_unmapped(tmp_path: Path) -> None:
    uid_map = tmp_path / "uid_map"
    default = sandbox_uids.UidRange(*sandbox_uids.DEFAULT_RANGE)
    uid_map.write_text("         0     100000      65536\n")  # a container that maps 65536 ids
    assert not default.mapped(uid_map) and sandbox_uids.UidRange(60000, 60010).mapped(uid_map)
    assert not sandbox_uids.UidRange(65530, 65540).mapped(uid_map)  # straddles the end
    uid_map.write_text("         0          0 4294967295\n")  # the initial namespace
    assert default.mapped(uid_map)


# --- Ctrl-C at the sandbox's start ---

_ARMED: list[int] = []


def _interrupt_in_the_fork() -> None:
    """An at-fork callback in the parent: SIGINT now is what a Ctrl-C during the fork delivers."""
    if _ARMED:
        _ARMED.clear()
        os.kill(os.getpid(), signal.SIGINT)


os.register_at_fork(after_in_parent=_interrupt_in_the_fork)


@pytest.mark.parametrize("backend", ["local", "unsafe-subprocess"])
def test_ctrl_c_while_the_sandbox_process_is_forked_stops_the_run(tmp_path: Path, backend: str) -> None:
    sandbox: Any = require("local") if backend == "local" else get_sandbox(backend)
    workspace = make_workspace(sandbox, tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    # Python's own Ctrl-C handler, as in a terminal: a process started in the background by a non-interactive shell
    # (CI's `.ci/run &`) inherits SIGINT ignored, and then no interrupt is there to lose.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    _ARMED.append(1)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=256))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back
    finally:
        _ARMED.clear()
        signal.signal(signal.SIGINT, inherited)
    assert time.monotonic() - started < 10  # stopped, not run to its wall clock
    deadline = time.monotonic() + 5
    while marked_pids(workspace_marker(workspace.resolve())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked_pids(workspace_marker(workspace.resolve())) == []  # nothing of the run is left
    assert run(sandbox, workspace, Limits(wall_time_s=1, memory_mb=256)).timed_out  # and the next run starts


def test_a_sigint_handler_that_does_not_raise_leaves_the_run_going(tmp_path: Path) -> None:
    """Only an interrupt that raises stops the run: a caller's own handler (e.g. "stop after this run") is called
    once, after the start, and the run finishes."""
    sandbox: Any = require("local")
    workspace = make_workspace(sandbox, tmp_path, textwrap.dedent("print('done')\n"))
    calls: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    _ARMED.append(1)
    try:
        result = run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=256))
    finally:
        _ARMED.clear()
        signal.signal(signal.SIGINT, previous)
    assert result.ok and result.stdout_tail == "done\n" and calls == [signal.SIGINT]
