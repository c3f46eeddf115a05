"""The `local` backend: bubblewrap namespaces, rlimits and the host's wall clock, plus a memory cgroup per run
where this machine allows one (root, or a delegated cgroup v2 subtree). What it shares with Docker is tested in
test_sandbox_docker.py and the adversarial suite (test_sandbox_escapes.py); here: what is its own.

Nothing is mocked: real bwrap namespaces, real cgroups. Without bwrap (or the sandbox root filesystem) these
tests skip with the reason (fail under CI=true, which installs both).
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from scientist.sandbox import Limits, RunResult, get_sandbox
from scientist.sandbox.cgroup import NAME_PREFIX, MemoryCgroup, memory_cgroup_support
from scientist.sandbox.process import workspace_marker
from tests.test_sandbox_docker import make_workspace, require

HOG = """
import time
chunks = []
while True:
    chunks.append(b"x" * (16 * 1024 * 1024))
    print(len(chunks) * 16, "MB", flush=True)
    time.sleep(0.01)
"""


def run(sandbox: Any, workspace: Path, limits: Limits) -> RunResult:
    result: RunResult = sandbox.run(
        workspace, ["python", "main.py"], limits, out_dir="out", log_dir=workspace.parent / "logs"
    )
    return result


def needs_cgroup() -> None:
    why_not = memory_cgroup_support()
    if why_not is not None:
        pytest.skip(f"no memory cgroup for the local backend here: {why_not}")


def test_bwrap_is_the_old_name_of_local_and_results_say_local(tmp_path: Path) -> None:
    require("local")
    sandbox = get_sandbox("bwrap")
    assert sandbox.backend == "local" and getattr(sandbox, "isolated", False)
    workspace = make_workspace(sandbox, tmp_path, "print('hi')\n")
    result = run(sandbox, workspace, Limits(wall_time_s=20))
    assert result.ok and result.backend == "local" and result.stdout_tail == "hi\n"


def test_a_memory_hog_is_oom_killed_by_the_runs_memory_cgroup(tmp_path: Path) -> None:
    sandbox: Any = require("local")
    needs_cgroup()
    assert sandbox.memory_control == "cgroup"
    workspace = make_workspace(sandbox, tmp_path, HOG)
    result = run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=128))
    assert result.oom_killed and not result.timed_out and not result.ok
    assert result.exit_code is None and result.signal == signal.SIGKILL  # the kernel's OOM kill, no MemoryError
    assert "MemoryError" not in result.stderr_tail
    assert 64 <= int(result.stdout_tail.split()[-2]) <= 128


def test_without_a_cgroup_memory_is_capped_as_address_space(tmp_path: Path) -> None:
    require("local")
    sandbox: Any = get_sandbox("local", memory_cgroup=False)
    assert sandbox.memory_control == "rlimit-as"
    workspace = make_workspace(sandbox, tmp_path, HOG)
    result = run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=128))
    assert result.oom_killed and not result.timed_out and not result.ok
    assert result.exit_code == 1 and "MemoryError" in result.stderr_tail


FORKED_HOGS = """
import os, time
for _ in range(4):  # four processes, each well under the address-space cap, together far above the run's memory
    ready, told = os.pipe()
    if os.fork() == 0:
        held = bytearray(70 * 1024 * 1024)
        for offset in range(0, len(held), 4096):
            held[offset] = 1
        print("holding 70 MB", flush=True)
        os.write(told, b"x")
        time.sleep(60)
        os._exit(0)
    os.read(ready, 1)  # one at a time: the next child starts once this one holds its memory
time.sleep(60)
"""


def test_without_a_cgroup_the_runs_whole_process_tree_is_held_to_its_memory(tmp_path: Path) -> None:
    """RLIMIT_AS is per process: four children of 70 MB each pass it one by one. The harness sums the tree's use
    and kills the run past memory_mb, long before the wall clock; a child that clears its environment (the marker
    kill_processes looks for) is still below the run's pid and still counted."""
    require("local")
    sandbox: Any = get_sandbox("local", memory_cgroup=False)
    script = FORKED_HOGS.replace("if os.fork() == 0:", "if os.fork() == 0:\n        os.environ.clear()")
    workspace = make_workspace(sandbox, tmp_path, script)
    started = time.monotonic()
    result = run(sandbox, workspace, Limits(wall_time_s=40, memory_mb=160))
    assert result.oom_killed and not result.timed_out and not result.ok, result
    assert result.signal == signal.SIGKILL and time.monotonic() - started < 30  # the children sleep 60 s
    # How many children got to print before the kill depends on the sampling (10-200 ms) against a loaded machine:
    # the test holds only that the run was stopped by its memory, long before its own end or the wall clock.
    assert "holding 70 MB" in result.stdout_tail
    spared = make_workspace(sandbox, tmp_path / "fits", FORKED_HOGS.replace("range(4)", "range(1)"))
    fits = run(sandbox, spared, Limits(wall_time_s=3, memory_mb=160))  # one 70 MB child fits: the clock ends it
    assert fits.timed_out and not fits.oom_killed and "holding 70 MB" in fits.stdout_tail


def test_the_cgroup_counts_what_is_used_not_what_is_reserved(tmp_path: Path) -> None:
    """A 1 GB mapping that is never touched is fine under a 128 MB cgroup (it is not under RLIMIT_AS)."""
    sandbox: Any = require("local")
    needs_cgroup()
    script = "import mmap\nm = mmap.mmap(-1, 1 << 30)\nm[0] = 1\nprint('mapped', flush=True)\n"
    workspace = make_workspace(sandbox, tmp_path, script)
    assert run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=128)).ok
    capped = get_sandbox("local", memory_cgroup=False)
    refused = capped.run(workspace, ["python", "main.py"], Limits(wall_time_s=20, memory_mb=128), out_dir="out",
                         log_dir=tmp_path / "logs2")
    assert refused.exit_code == 1 and "Cannot allocate memory" in refused.stderr_tail


def test_the_runs_cgroup_is_removed_and_a_crashed_runs_is_replaced(tmp_path: Path) -> None:
    sandbox: Any = require("local")
    needs_cgroup()
    workspace = make_workspace(sandbox, tmp_path, "print(open('/proc/self/cgroup').read())\n")
    marker = workspace_marker(workspace.resolve())
    stale, _ = MemoryCgroup.create(marker, 1 << 20)  # what a killed scientist leaves: a 1 MB cgroup
    assert stale is not None and stale.path.is_dir()
    result = run(sandbox, workspace, Limits(wall_time_s=20, memory_mb=256))
    assert result.ok, result.stderr_tail  # a fresh cgroup with this run's limit, not the stale 1 MB one
    assert not stale.path.exists()
    # Only this workspace's cgroup: other xdist workers run sandboxes beside this test, each with its own cgroup.
    assert stale.path.name == f"{NAME_PREFIX}{marker}"
    assert not [name for name in os.listdir(stale.path.parent) if marker in name]
    again, _ = MemoryCgroup.create(marker, 1 << 20)
    assert again is not None and again.path.is_dir()
    sandbox.cleanup(workspace)  # what `resume` and the CLI call after a crash
    assert not again.path.exists()


def test_the_bubblewrap_command_has_no_address_space_limit_under_a_cgroup(tmp_path: Path) -> None:
    sandbox: Any = require("local")
    needs_cgroup()
    script = textwrap.dedent(
        """
        import resource
        print(resource.getrlimit(resource.RLIMIT_AS)[1] == resource.RLIM_INFINITY,
              resource.getrlimit(resource.RLIMIT_CPU)[1] != resource.RLIM_INFINITY)
        """
    )
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace, Limits(wall_time_s=20))
    assert result.ok and result.stdout_tail == "True True\n"


@pytest.mark.slow
def test_a_run_with_docker_down_takes_the_configured_fallback_and_audits_it(
    isolated_env: Path, replay_store: Path
) -> None:
    """`scientist run` with `sandbox = docker` on a machine whose engine is down and `sandbox_fallback = local`:
    the run completes in bubblewrap, and the audit log says so before any experiment ran."""
    from scientist.audit.log import AuditLog
    from tests.conftest import FIXTURE_TOPIC, replay_env, run_cli

    require("local")
    env = replay_env(
        replay_store,
        SCIENTIST_SANDBOX="docker",
        SCIENTIST_SANDBOX_FALLBACK="local",
        DOCKER_HOST=f"unix://{isolated_env}/no-docker.sock",
    )
    result = run_cli("run", FIXTURE_TOPIC, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (isolated_env / "runs").iterdir()
    records = AuditLog(run_dir).records()
    kinds = [record.kind for record in records]
    fallback = records[kinds.index("sandbox_fallback")]
    assert kinds.index("run_start") < kinds.index("sandbox_fallback") < kinds.index("sandbox_run")
    assert fallback.payload["requested"] == "docker" and fallback.payload["used"] == "local"
    assert "not reachable" in fallback.payload["reason"] and "sandbox_unisolated" not in kinds
    runs = [record for record in records if record.kind == "sandbox_run"]
    # each run then the harness's evaluator over what it saved (contract v2), then the plots
    assert [r.payload["label"] for r in runs] == ["baseline", "baseline/eval_0", "variant", "variant/eval_0", "plots"]
    for record in runs:  # every sandbox run's record, the plot run's included, carries the same facts
        assert record.actor == "sandbox:local" and record.payload["backend"] == "local"
        assert record.payload["image"].startswith("rootfs-sha256:") and record.payload["limits"]["wall_time_s"] > 0
        assert record.payload["command"][0] == "python3" and record.payload["stdout_sha256"]
        assert all(len(output["sha256"]) == 64 for output in record.payload["outputs"]) and record.payload["outputs"]


def test_copy_in_writes_between_runs_but_never_over_protected_files_or_out_of_the_workspace(tmp_path: Path) -> None:
    from scientist.errors import SandboxError
    from scientist.sandbox import copy_in
    from scientist.sandbox.base import prepare_workspace

    template = tmp_path / "template"
    (template / "metrics").mkdir(parents=True)
    (template / "evaluate.py").write_text("score = 0\n")
    (template / "metrics" / "score.py").write_text("x = 1\n")
    workspace = tmp_path / "workspace"
    with pytest.raises(SandboxError, match="was not prepared"):
        copy_in(tmp_path, {"a.py": b"x"})
    prepare_workspace(template, workspace, ["evaluate.py", "metrics"])
    script = tmp_path / "host_script.py"
    script.write_text("print('hi')\n")
    assert copy_in(workspace, {"main.py": script, "sub/data.txt": b"42"}) == ["main.py", "sub/data.txt"]
    assert (workspace / "main.py").read_text() == "print('hi')\n"
    assert (workspace / "sub" / "data.txt").read_bytes() == b"42"
    os.symlink(tmp_path, workspace / "out_link")  # as a previous run could have left it
    refused = {
        "evaluate.py": "protected",
        "metrics/new.py": "protected",
        ".sandbox/protected.json": "protected",
        ".sandbox/trace/sitecustomize.py": "protected",
        "../escape.py": "not a path inside the workspace",
        "/etc/escape.py": "not a path inside the workspace",
        "out_link/escape.py": "through a symlink",
    }
    for name, why in refused.items():
        with pytest.raises(SandboxError, match=why):
            copy_in(workspace, {name: b"score = 100\n"})
    assert (workspace / "evaluate.py").read_text() == "score = 0\n" and not (tmp_path / "escape.py").exists()
