"""The `unsafe-subprocess` sandbox (a host subprocess, no isolation) against experiments that misbehave: runaway
time, memory, files, processes and tampering. Its limits and process-tree supervision are shared with the `local`
(bubblewrap) backend; its lack of isolation is why it exists only under that explicit name (and is audited).

Every run is a real subprocess; nothing under test is mocked. Scripts are written into a template folder, copied by
`prepare` into a fresh workspace and run as `python main.py`.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from scientist.errors import SandboxError
from scientist.sandbox import Limits, RunResult, Sandbox, get_sandbox
from scientist.sandbox.unsafe import sandbox_env, workspace_marker
from tests.test_sandbox_docker import make_workspace

QUICK = Limits(wall_time_s=30)


@pytest.fixture
def sandbox() -> Sandbox:
    return get_sandbox("unsafe-subprocess")


def run(sandbox: Sandbox, workspace: Path, limits: Limits = QUICK, env: dict[str, str] | None = None) -> RunResult:
    logs = workspace.parent / "logs"
    return sandbox.run(workspace, ["python", "main.py"], limits, out_dir="out", log_dir=logs, env=env)


def alive(pid: int, start_time: str) -> bool:
    """Running (not a zombie) and the same process, not a later one that reused the pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] not in ("Z", "X") and fields[19] == start_time


# A grandchild that leaves the process group and session, ignores polite signals and records who it is.
ESCAPE = """
import os, signal, sys, time

def escape():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            start = open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]
            with open("grandchild.tmp", "w") as f:
                f.write(f"{os.getpid()} {start}")
            os.rename("grandchild.tmp", "grandchild.pid")
            while True:
                time.sleep(1)
        os._exit(0)
    while not os.path.exists("grandchild.pid"):
        time.sleep(0.01)
    print("grandchild ready", flush=True)
"""


def test_outputs_are_listed_with_their_hashes(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import os
        os.makedirs("out/sub", exist_ok=True)
        open("out/result.txt", "w").write("hello")
        open("out/sub/data.bin", "wb").write(bytes(range(256)) * 10)
        open("scratch.txt", "w").write("not an output")
        import time; time.sleep(0.3)  # past the first memory samples: a run shorter than them reports 0 MB
    """
    workspace = make_workspace(sandbox, tmp_path, script, files={"out/unchanged.txt": "from the template"})
    result = run(sandbox, workspace)
    assert result.ok and result.exit_code == 0 and result.signal is None, result.stderr_tail
    assert result.backend == "unsafe-subprocess" and result.command == [sys.executable, "main.py"]
    expected = {"out/result.txt": b"hello", "out/sub/data.bin": bytes(range(256)) * 10}
    assert [o.path for o in result.outputs] == sorted(expected)
    for output in result.outputs:
        assert output.sha256 == hashlib.sha256(expected[output.path]).hexdigest()
        assert output.size == len(expected[output.path])
    assert result.protected_violations == [] and not result.output_limit_exceeded
    assert Path(result.stdout_path).is_file() and Path(result.stderr_path).is_file()
    assert result.peak_memory_mb > 1 and result.cpu_time_s > 0


def test_wall_time_kills_the_whole_tree_even_escaped_grandchildren(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = make_workspace(sandbox, tmp_path, ESCAPE + "escape()\nwhile True:\n    time.sleep(1)\n")
    result = run(sandbox, workspace, Limits(wall_time_s=2))
    assert "grandchild ready" in result.stdout_tail, result.stderr_tail
    assert result.timed_out and not result.ok
    assert result.exit_code is None and result.signal == signal.SIGKILL
    pid, start = (workspace / "grandchild.pid").read_text().split()
    assert not alive(int(pid), start)


def test_processes_left_behind_by_a_finished_run_are_killed(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = make_workspace(sandbox, tmp_path, ESCAPE + "escape()\nsys.exit(0)\n")
    result = run(sandbox, workspace)
    assert result.ok and "grandchild ready" in result.stdout_tail, result.stderr_tail
    pid, start = (workspace / "grandchild.pid").read_text().split()
    assert not alive(int(pid), start)


def test_cleanup_kills_what_an_earlier_process_left_in_the_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    """As after a crash: the processes were started by someone else, only the workspace is known."""
    workspace = make_workspace(sandbox, tmp_path, "")
    env = sandbox_env(workspace.resolve(), workspace_marker(workspace.resolve()), None)
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)
    environ = Path(f"/proc/{orphan.pid}/environ")
    deadline = time.monotonic() + 10
    while workspace_marker(workspace.resolve()).encode() not in environ.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # until it has exec'd: before that its environment is still the test's (a loaded machine)
    sandbox.cleanup(workspace)
    assert orphan.wait(timeout=10) == -signal.SIGKILL


def test_cpu_limit_stops_a_busy_loop(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = make_workspace(sandbox, tmp_path, "while True:\n    pass\n")
    result = run(sandbox, workspace, Limits(wall_time_s=60, cpu_time_s=1))
    assert result.timed_out and result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert not result.oom_killed


def test_memory_hog_hits_the_memory_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import time
        chunks = []
        while True:
            chunks.append(bytearray(16 * 1024 * 1024))
            time.sleep(0.03)  # slow enough for the peak-memory sampler to see it grow
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace, Limits(wall_time_s=30, memory_mb=256))
    assert result.oom_killed and not result.ok and not result.timed_out
    assert "MemoryError" in result.stderr_tail
    assert 64 < result.peak_memory_mb <= 256


def test_peak_memory_is_the_runs_own_not_the_parents(sandbox: Sandbox, tmp_path: Path) -> None:
    ballast = bytearray(400 * 1024 * 1024)  # the parent is fat when it forks the run
    workspace = make_workspace(sandbox, tmp_path, "import time\ntime.sleep(0.5)\n")
    result = run(sandbox, workspace, Limits(wall_time_s=30))
    assert result.ok and 0 < result.peak_memory_mb < 100
    del ballast


def test_experiment_cannot_raise_its_own_limits(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import json, resource
        report = {}
        for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE"):
            which = getattr(resource, name)
            soft, hard = resource.getrlimit(which)
            try:
                resource.setrlimit(which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                report[name] = ["raised", hard]
            except (ValueError, OSError):
                report[name] = ["refused", hard]
        print(json.dumps(report))
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    limits = Limits(wall_time_s=30, memory_mb=512, cpu_time_s=20, max_file_mb=50)
    result = run(sandbox, workspace, limits)
    assert result.ok, result.stderr_tail
    report = json.loads(result.stdout_tail)
    assert {name: verdict for name, (verdict, _) in report.items()} == dict.fromkeys(report, "refused")
    assert report["RLIMIT_AS"][1] == 512 * 2**20
    assert report["RLIMIT_FSIZE"][1] == 50 * 2**20
    assert report["RLIMIT_CPU"][1] in (20, 21)


def test_parent_secrets_stay_out_and_the_allow_list_gets_in(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    script = """
        import json, os, sys
        os.makedirs("out", exist_ok=True)
        json.dump({"env": dict(os.environ), "python": sys.executable}, open("out/env.json", "w"))
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace, env={"SEED": "7"})
    assert result.ok, result.stderr_tail
    seen = json.loads((workspace / "out" / "env.json").read_text())
    env = seen["env"]
    assert "OPENAI_API_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "secret-value" not in json.dumps(env)
    assert seen["python"] == sys.executable
    assert env["HOME"] == str(workspace.resolve())
    assert env["MPLBACKEND"] == "Agg" and env["MPLCONFIGDIR"].startswith(str(workspace.resolve()))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["SEED"] == "7"


def test_protected_files_are_read_only_and_tampering_is_detected(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import hashlib, json, os
        try:
            open("evaluate.py", "a").write("score = 100\\n")
            print("write allowed")
        except PermissionError:
            print("write denied")
        os.chmod("evaluate.py", 0o644)
        open("evaluate.py", "a").write("score = 100\\n")
        os.remove("metrics/score.py")
        open("config.json", "w").write("{}")  # editable: not a violation
        # Forge the manifest so the tampered file looks untouched.
        os.chmod(".sandbox/protected.json", 0o644)
        manifest = json.load(open(".sandbox/protected.json"))
        manifest["files"]["evaluate.py"] = hashlib.sha256(open("evaluate.py", "rb").read()).hexdigest()
        json.dump(manifest, open(".sandbox/protected.json", "w"))
    """
    files = {"evaluate.py": "score = 0\n", "metrics/score.py": "def score(): ...\n", "config.json": '{"a": 1}'}
    workspace = make_workspace(sandbox, tmp_path, script, files, protected=("evaluate.py", "metrics"))
    assert (workspace / "evaluate.py").stat().st_mode & 0o777 == 0o444
    recorded = json.loads((workspace / ".sandbox" / "protected.json").read_text())["files"]
    assert sorted(recorded) == ["evaluate.py", "metrics/score.py"]

    result = run(sandbox, workspace)
    assert result.exit_code == 0, result.stderr_tail
    assert "write denied" in result.stdout_tail
    assert result.protected_violations == ["evaluate.py", "metrics/score.py", ".sandbox/protected.json"]
    assert not result.ok  # a run that touched its evaluator is not a result


def test_huge_file_is_stopped_by_the_file_size_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import os
        os.makedirs("out", exist_ok=True)
        with open("out/checkpoint.bin", "wb") as f:
            for _ in range(64):
                f.write(b"x" * 65536)
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace, Limits(wall_time_s=30, max_file_mb=1))
    assert not result.ok and result.exit_code != 0
    assert "File too large" in result.stderr_tail
    assert (workspace / "out" / "checkpoint.bin").stat().st_size <= 2**20


def test_too_much_output_in_total_is_flagged(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import os
        os.makedirs("out", exist_ok=True)
        for i in range(3):
            open(f"out/part{i}.bin", "wb").write(b"x" * 600_000)
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace, Limits(wall_time_s=30, max_file_mb=1, max_output_mb=1))
    assert result.exit_code == 0 and result.output_limit_exceeded
    assert len(result.outputs) == 3


def test_nonzero_exit_is_reported_with_the_tail_of_long_output(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import sys
        for i in range(5000):
            print(f"line {i}")
        print("the end")
        print("bad config", file=sys.stderr)
        sys.exit(3)
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace)
    assert result.exit_code == 3 and result.signal is None and not result.ok
    assert not result.timed_out and not result.oom_killed
    assert result.stdout_tail.endswith("line 4999\nthe end\n")
    assert len(result.stdout_tail.encode()) <= 8 * 1024 and "line 0\n" not in result.stdout_tail
    assert Path(result.stdout_path).read_text().startswith("line 0\n")
    assert result.stderr_tail == "bad config\n"


def test_user_mistakes_are_sandbox_errors(sandbox: Sandbox, tmp_path: Path) -> None:
    template = tmp_path / "template"
    template.mkdir()
    (template / "main.py").write_text("")
    with pytest.raises(SandboxError, match="missing"):
        sandbox.prepare(template, tmp_path / "a", ["evaluate.py"])
    with pytest.raises(SandboxError, match="not a path inside"):
        sandbox.prepare(template, tmp_path / "b", ["../main.py"])
    with pytest.raises(SandboxError, match="does not exist"):
        sandbox.prepare(tmp_path / "nowhere", tmp_path / "c", [])
    workspace = tmp_path / "ws"
    sandbox.prepare(template, workspace, [])
    with pytest.raises(SandboxError, match="not empty"):
        sandbox.prepare(template, workspace, [])
    logs = tmp_path / "logs"
    with pytest.raises(SandboxError, match="not a path inside"):
        sandbox.run(workspace, ["python", "main.py"], QUICK, out_dir="../escape", log_dir=logs)
    with pytest.raises(SandboxError, match="non-empty list"):
        sandbox.run(workspace, [], QUICK, out_dir="out", log_dir=logs)
    with pytest.raises(SandboxError, match="cannot start"):
        sandbox.run(workspace, ["no-such-program-here"], QUICK, out_dir="out", log_dir=logs)
    unprepared = tmp_path / "unprepared"
    unprepared.mkdir()
    with pytest.raises(SandboxError, match="not prepared"):
        sandbox.run(unprepared, ["python", "main.py"], QUICK, out_dir="out", log_dir=logs)
    with pytest.raises(SandboxError, match="unknown sandbox backend") as info:
        get_sandbox("vm")
    assert info.value.hint is not None and "local" in info.value.hint


def test_limits_are_validated_and_frozen() -> None:
    assert Limits(wall_time_s=1.2).effective_cpu_time_s == 7
    assert Limits(cpu_time_s=3).effective_cpu_time_s == 3
    for bad in ({"wall_time_s": 0}, {"memory_mb": -1}, {"wall_time_s": float("inf")}, {"max_file_mb": 0}):
        with pytest.raises(ValidationError, match=r"greater than 0|finite"):
            Limits(**bad)
    with pytest.raises(ValidationError, match="Extra inputs"):
        Limits(wall_time=5)
    with pytest.raises(ValidationError, match="frozen"):
        QUICK.wall_time_s = 1
    assert isinstance(get_sandbox("unsafe-subprocess"), Sandbox)
