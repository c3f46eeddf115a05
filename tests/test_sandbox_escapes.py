"""Adversarial suite: experiment code that tries to get out, hog the machine, cheat its limits or tamper with its
yardstick, run in both isolated backends: `docker` and `local` (bubblewrap).

Each attack is a small real script. Each test asserts the specific containment outcome (the errno the kernel
gave, the exit cause, the host file unchanged, no process left) rather than merely that nothing crashed. The
scripts print one JSON line (`report(...)`) saying what each attempt got: "ok" or the errno name.

Limits are kept small (a few seconds of wall time, small memory and disk caps) so the whole suite stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.monitors.dynamic import protected_attempt_events
from scientist.sandbox import Limits, RunResult, Sandbox
from scientist.sandbox.process import marked_pids, workspace_marker
from tests.test_sandbox_docker import ISOLATED, make_workspace, require

ATTACK = Limits(wall_time_s=5, memory_mb=256, max_processes=32, max_file_mb=4, max_output_mb=16, tmp_mb=8)

PRELUDE = """\
import errno, json, os, socket, sys, time

def attempt(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
        return "ok"
    except socket.gaierror:
        return "gaierror"
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno)) if err.errno else type(err).__name__
    except Exception as err:
        return type(err).__name__

def write(path, data="x", mode="a"):
    with open(path, mode) as handle:
        handle.write(data)

def read(path):
    with open(path, "rb") as handle:
        return handle.read()

def report(**fields):
    print(json.dumps(fields), flush=True)
"""


@pytest.fixture(params=ISOLATED)
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return require(request.param)


def attack(
    sandbox: Sandbox,
    root: Path,
    script: str,
    limits: Limits = ATTACK,
    *,
    files: dict[str, str] | None = None,
    protected: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> tuple[RunResult, Path]:
    import textwrap

    workspace = make_workspace(sandbox, root, PRELUDE + textwrap.dedent(script), files, protected)
    result = sandbox.run(workspace, ["python", "main.py"], limits, out_dir="out", log_dir=root / "logs", env=env)
    return result, workspace


def reported(result: RunResult) -> dict[str, Any]:
    lines = [line for line in result.stdout_tail.splitlines() if line.startswith("{")]
    assert lines, f"the attack reported nothing; stderr: {result.stderr_tail}"
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def leftovers(sandbox: Sandbox, workspace: Path) -> list[Any]:
    """Containers (Docker) or processes (bwrap) still tied to this workspace after its run returned."""
    marker = workspace_marker(workspace.resolve())
    client = getattr(sandbox, "client", None)
    if client is not None:
        found: list[Any] = client.containers.list(
            all=True, ignore_removed=True, filters={"label": f"scientist.workspace={marker}"}
        )
        return found
    return list(marked_pids(marker))


@pytest.fixture
def tcp_server() -> Iterator[tuple[socket.socket, int]]:
    """A TCP server on all of the host's addresses (loopback included) that records whether anyone connected."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    server.setblocking(False)
    yield server, server.getsockname()[1]
    server.close()


def accepted_anything(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


# --- network ------------------------------------------------------------------------------------------------


def test_a_server_on_the_hosts_loopback_refuses_the_sandbox(
    sandbox: Sandbox, tmp_path: Path, tcp_server: tuple[socket.socket, int]
) -> None:
    server, port = tcp_server
    script = f"""
        import socket
        report(loopback=attempt(socket.create_connection, ("127.0.0.1", {port}), timeout=2),
               localhost=attempt(socket.create_connection, ("localhost", {port}), timeout=2))
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["loopback"] == "ECONNREFUSED"  # the sandbox's own, empty loopback
    assert outcome["localhost"] in ("ECONNREFUSED", "EADDRNOTAVAIL", "gaierror")  # ::1 may not exist
    assert not accepted_anything(server)


def test_the_hosts_network_addresses_are_unreachable(
    sandbox: Sandbox, tmp_path: Path, tcp_server: tuple[socket.socket, int]
) -> None:
    server, port = tcp_server
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # picks the outgoing address; sends nothing
        host_ip = probe.getsockname()[0]
    except OSError:
        host_ip = "10.0.0.1"
    finally:
        probe.close()
    script = f"""
        import socket
        report(host=attempt(socket.create_connection, ("{host_ip}", {port}), timeout=2),
               bridge=attempt(socket.create_connection, ("172.17.0.1", {port}), timeout=2))
    """
    result, _ = attack(sandbox, tmp_path, script)
    assert reported(result) == {"host": "ENETUNREACH", "bridge": "ENETUNREACH"}  # no interface but lo, no route
    assert not accepted_anything(server)


def test_dns_and_outbound_udp_fail(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import socket
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        report(dns=attempt(socket.getaddrinfo, "example.com", 443),
               udp=attempt(udp.sendto, b"\\0" * 12, ("8.8.8.8", 53)))
    """
    result, _ = attack(sandbox, tmp_path, script)
    assert reported(result) == {"dns": "gaierror", "udp": "ENETUNREACH"}


def test_the_docker_socket_is_not_there(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import socket
        outcome = {}
        for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
            outcome[path] = attempt(socket.socket(socket.AF_UNIX).connect, path)
        report(**outcome)
    """
    result, _ = attack(sandbox, tmp_path, script)
    assert set(reported(result).values()) == {"ENOENT"}


def test_the_hosts_abstract_unix_sockets_are_unreachable(sandbox: Sandbox, tmp_path: Path) -> None:
    name = f"scientist-escape-test-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(1)
    listener.setblocking(False)
    try:
        script = f"""
            import socket
            report(abstract=attempt(socket.socket(socket.AF_UNIX).connect, "\\0{name}"))
        """
        result, _ = attack(sandbox, tmp_path, script)
        assert reported(result) == {"abstract": "ECONNREFUSED"}  # abstract sockets belong to the network namespace
        assert not accepted_anything(listener)
    finally:
        listener.close()


# --- processes, memory, CPU, disk ---------------------------------------------------------------------------


def test_a_fork_loop_stops_at_the_process_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        forks, error = 0, None
        while forks < 500:
            try:
                pid = os.fork()
            except OSError as err:
                error = errno.errorcode[err.errno]
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            forks += 1
        report(forks=forks, error=error)
    """
    result, workspace = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["error"] == "EAGAIN" and outcome["forks"] <= ATTACK.max_processes + 2
    assert result.ok, "the run ends when its main process does: the sleeping children die with it"
    assert leftovers(sandbox, workspace) == []


def test_a_fork_bomb_is_killed_at_the_wall_time_and_leaves_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        print("bombing", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """
    result, workspace = attack(sandbox, tmp_path, script, ATTACK.model_copy(update={"wall_time_s": 3}))
    assert result.timed_out and result.signal == signal.SIGKILL and result.exit_code is None
    assert "bombing" in result.stdout_tail
    assert leftovers(sandbox, workspace) == []


def test_a_memory_hog_is_stopped_by_the_memory_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        chunks = []
        while True:
            chunks.append(b"x" * (16 * 1024 * 1024))
            print(len(chunks) * 16, "MB", flush=True)
    """
    result, _ = attack(sandbox, tmp_path, script, ATTACK.model_copy(update={"memory_mb": 128}))
    assert result.oom_killed and not result.timed_out and not result.ok
    if result.backend == "docker" or getattr(sandbox, "memory_control", None) == "cgroup":
        assert result.signal == signal.SIGKILL  # the memory cgroup's OOM killer, counted by the kernel
    else:  # address-space rlimit (no memory cgroup to be had here): the allocation fails
        assert "MemoryError" in result.stderr_tail
    assert int(result.stdout_tail.split()[-2]) <= 128


def test_a_memory_hog_that_catches_memory_error_is_still_stopped(sandbox: Sandbox, tmp_path: Path) -> None:
    """An experiment that swallows MemoryError and keeps trying must not outlast its memory limit."""
    script = """
        chunks, refused = [], 0
        while True:
            try:
                chunks.append(b"x" * (8 * 1024 * 1024))
            except MemoryError:
                refused += 1
                print("refused", refused, flush=True)
                time.sleep(0.01)
    """
    result, _ = attack(sandbox, tmp_path, script, ATTACK.model_copy(update={"memory_mb": 96, "wall_time_s": 4}))
    assert not result.ok and result.exit_code is None and result.signal == signal.SIGKILL
    if result.backend == "docker" or getattr(sandbox, "memory_control", None) == "cgroup":
        assert result.oom_killed and not result.timed_out  # killed by the kernel at the cap
    else:  # RLIMIT_AS only refuses allocations: the wall clock ends it, and the refusals are in the log
        assert result.timed_out and "refused" in result.stdout_tail


def test_one_huge_file_is_cut_at_the_file_size_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        def fill():
            with open("out/checkpoint.bin", "wb") as handle:
                for _ in range(256):
                    handle.write(b"x" * 65536)
        report(fill=attempt(fill))
    """
    limits = ATTACK.model_copy(update={"max_file_mb": 1})
    result, workspace = attack(sandbox, tmp_path, script, limits)
    assert reported(result) == {"fill": "EFBIG"}
    assert (workspace / "out" / "checkpoint.bin").stat().st_size <= 2**20


def test_filling_the_workspace_with_many_files_stops_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        os.makedirs("out/fill", exist_ok=True)
        for i in range(400):
            with open(f"out/fill/{i}.bin", "wb") as handle:
                handle.write(b"x" * (512 * 1024))
            time.sleep(0.01)
        print("wrote everything", flush=True)
    """
    limits = ATTACK.model_copy(update={"max_output_mb": 4, "wall_time_s": 20})
    result, workspace = attack(sandbox, tmp_path, script, limits)
    written = sum(path.stat().st_size for path in (workspace / "out" / "fill").iterdir())
    assert result.output_limit_exceeded and not result.ok and not result.timed_out
    assert result.signal == signal.SIGKILL and "wrote everything" not in result.stdout_tail
    assert 4 * 2**20 < written < 100 * 2**20  # stopped well short of the 200 MB it tried


@pytest.mark.parametrize("folder", ["/tmp", "/dev/shm"])
def test_filling_the_in_memory_folders_hits_their_size(sandbox: Sandbox, tmp_path: Path, folder: str) -> None:
    script = f"""
        written, error = 0, None
        try:
            with open("{folder}/fill.bin", "wb") as handle:
                while written < 64 * 2**20:
                    handle.write(b"x" * 2**20)
                    handle.flush()
                    written += 2**20
        except OSError as err:
            error = errno.errorcode[err.errno]
        report(written_mb=written // 2**20, error=error)
    """
    limits = ATTACK.model_copy(update={"tmp_mb": 8, "max_file_mb": 256})
    result, _ = attack(sandbox, tmp_path, script, limits)
    outcome = reported(result)
    assert outcome["error"] == "ENOSPC" and outcome["written_mb"] <= 8


def test_huge_stdout_is_capped(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        line = "x" * 65535 + "\\n"
        while True:
            sys.stdout.write(line)
    """
    limits = ATTACK.model_copy(update={"max_file_mb": 1, "wall_time_s": 20})
    result, _ = attack(sandbox, tmp_path, script, limits)
    assert result.output_limit_exceeded and not result.ok and not result.timed_out
    assert Path(result.stdout_path).stat().st_size <= 2**20


def test_an_infinite_loop_is_killed_at_the_wall_time(sandbox: Sandbox, tmp_path: Path) -> None:
    result, _ = attack(sandbox, tmp_path, "while True:\n    pass\n", ATTACK.model_copy(update={"wall_time_s": 2}))
    assert result.timed_out and result.signal == signal.SIGKILL and result.exit_code is None
    assert not result.oom_killed


def test_sleeping_past_the_limit_is_killed(sandbox: Sandbox, tmp_path: Path) -> None:
    script = "print('sleeping', flush=True)\ntime.sleep(3600)\n"
    result, workspace = attack(sandbox, tmp_path, script, ATTACK.model_copy(update={"wall_time_s": 2}))
    assert result.timed_out and result.signal == signal.SIGKILL and "sleeping" in result.stdout_tail
    assert leftovers(sandbox, workspace) == []


def test_the_cpu_time_limit_stops_a_busy_loop(sandbox: Sandbox, tmp_path: Path) -> None:
    limits = ATTACK.model_copy(update={"wall_time_s": 30, "cpu_time_s": 1})
    result, _ = attack(sandbox, tmp_path, "while True:\n    pass\n", limits)
    assert result.timed_out and result.signal in (signal.SIGXCPU, signal.SIGKILL)


def test_rlimits_cannot_be_raised(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import resource
        outcome = {}
        for name in ("RLIMIT_CPU", "RLIMIT_FSIZE"):
            which = getattr(resource, name)
            outcome[name] = attempt(resource.setrlimit, which, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        report(**outcome)
    """
    result, _ = attack(sandbox, tmp_path, script)
    assert reported(result) == {"RLIMIT_CPU": "ValueError", "RLIMIT_FSIZE": "ValueError"}


# --- the file system ----------------------------------------------------------------------------------------


def test_nothing_outside_the_workspace_is_writable(sandbox: Sandbox, tmp_path: Path) -> None:
    host_file = tmp_path / "outside.txt"
    targets = [
        "/etc/passwd",
        "/usr/lib/evil.so",
        "/evil",
        "/root/evil",
        "/work/evil",
        "/var/tmp/evil",
        "/proc/sys/kernel/hostname",
        "/proc/sysrq-trigger",
        "/sys/kernel/profiling",
        str(host_file),
    ]
    script = f"""
        targets = {targets!r}
        report(**{{path: attempt(write, path, "h") for path in targets}})
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert set(outcome) == set(targets)
    assert "ok" not in outcome.values(), outcome
    assert not host_file.exists()


def test_etc_shadow_is_not_readable(sandbox: Sandbox, tmp_path: Path) -> None:
    script = 'report(shadow=attempt(read, "/etc/shadow"), gshadow=attempt(read, "/etc/gshadow"))\n'
    result, _ = attack(sandbox, tmp_path, script)
    assert reported(result) == {"shadow": "EACCES", "gshadow": "EACCES"}
    with contextlib.suppress(OSError):
        host_root_entry = Path("/etc/shadow").read_text().splitlines()[0]
        assert host_root_entry not in result.stdout_tail + result.stderr_tail


def test_the_users_home_is_not_visible(sandbox: Sandbox, tmp_path: Path) -> None:
    key = tmp_path / "home" / ".ssh" / "id_ed25519"
    key.parent.mkdir(parents=True)
    key.write_text("HOST-PRIVATE-KEY-0451")
    real_home = Path.home()
    script = f"""
        report(key=attempt(read, {str(key)!r}),
               ssh=attempt(os.listdir, {str(real_home / ".ssh")!r}),
               home=os.environ["HOME"])
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["key"] == "ENOENT" and outcome["ssh"] in ("ENOENT", "EACCES")
    assert outcome["home"] == "/work/run"
    assert "HOST-PRIVATE-KEY" not in result.stdout_tail + result.stderr_tail


def test_the_runs_audit_log_is_out_of_reach(sandbox: Sandbox, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101-abc"
    (run_dir / "experiments" / "baseline").mkdir(parents=True)
    (run_dir / "audit.jsonl").write_text('{"kind": "llm_call", "secret": "AUDIT-SECRET-7"}\n')
    script = f"""
        report(relative=attempt(read, "../../../audit.jsonl"),
               absolute=attempt(read, {str(run_dir / "audit.jsonl")!r}),
               append=attempt(write, {str(run_dir / "audit.jsonl")!r}, "forged"))
    """
    result, _ = attack(sandbox, run_dir / "experiments" / "baseline", script)
    outcome = reported(result)
    assert outcome["absolute"] == outcome["append"] == "ENOENT" and outcome["relative"] in ("ENOENT", "EACCES")
    assert (run_dir / "audit.jsonl").read_text().count("\n") == 1
    assert "AUDIT-SECRET" not in result.stdout_tail


def test_api_keys_in_the_parent_environment_do_not_leak(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-escape-test-4242")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-escape-test-4242")
    script = """
        seen = dict(os.environ)
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                seen[pid] = read(f"/proc/{pid}/environ").decode(errors="replace")
            except OSError:
                pass
        report(leaked=any("escape-test-4242" in value for value in seen.values()), pids=len(seen) - len(os.environ))
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["leaked"] is False and outcome["pids"] >= 1
    assert "escape-test-4242" not in result.stdout_tail + result.stderr_tail


def test_a_symlink_to_a_host_file_reads_nothing_and_is_removed(sandbox: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET-99")
    script = f"""
        os.symlink({str(secret)!r}, "out/final_info.json")
        os.symlink("../../../../../../../../{secret.name}", "out/up.txt")
        report(read=attempt(read, "out/final_info.json"), up=attempt(read, "out/up.txt"))
    """
    result, workspace = attack(sandbox, tmp_path, script)
    assert reported(result) == {"read": "ENOENT", "up": "ENOENT"}
    # The host reads outputs later: the links must not survive to redirect it to host files.
    assert result.escaping_symlinks == ["out/final_info.json", "out/up.txt"]
    assert not os.path.lexists(workspace / "out" / "final_info.json") and result.outputs == []


def test_writing_through_a_symlink_cannot_reach_the_host(sandbox: Sandbox, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    script = f"""
        os.symlink({str(victim)!r}, "absolute")
        os.symlink("../victim.txt", "relative")
        report(absolute=attempt(write, "absolute", "pwned", "w"), relative=attempt(write, "relative", "pwned", "w"))
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["absolute"] in ("ENOENT", "EROFS") and outcome["relative"] in ("ENOENT", "EROFS", "EACCES")
    assert victim.read_text() == "original"


def test_hardlinks_cannot_reach_outside_or_protected_files(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        report(system=attempt(os.link, "/etc/passwd", "out/passwd"),
               protected=attempt(os.link, "evaluate.py", "out/evaluate_alias.py"))
    """
    files = {"evaluate.py": "score = 0\n"}
    result, workspace = attack(sandbox, tmp_path, script, files=files, protected=("evaluate.py",))
    assert reported(result) == {"system": "EXDEV", "protected": "EXDEV"}  # every bind mount is its own mount
    assert not (workspace / "out" / "passwd").exists() and not (workspace / "out" / "evaluate_alias.py").exists()


# --- protected files and the run's own limits -----------------------------------------------------------------

PROTECTED_FILES = {"evaluate.py": "score = 0\n", "metrics/score.py": "def score(): ...\n", "config.json": "{}"}


def test_protected_files_cannot_be_written(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        report(append=attempt(write, "evaluate.py", "score = 100\\n"),
               truncate=attempt(write, "evaluate.py", "", "w"),
               nested=attempt(write, "metrics/score.py", "def score(): return 100\\n", "w"),
               editable=attempt(write, "config.json", '{"lr": 1}', "w"))
    """
    result, workspace = attack(sandbox, tmp_path, script, files=PROTECTED_FILES, protected=("evaluate.py", "metrics"))
    outcome = reported(result)
    assert outcome["editable"] == "ok"
    assert {outcome[k] for k in ("append", "truncate", "nested")} <= {"EACCES", "EROFS"}
    assert (workspace / "evaluate.py").read_text() == "score = 0\n"
    assert result.protected_violations == []


def test_protected_files_cannot_be_made_writable(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        chmod = attempt(os.chmod, "evaluate.py", 0o666)
        report(chmod=chmod, chown=attempt(os.chown, "evaluate.py", os.getuid(), os.getgid()),
               then_write=attempt(write, "evaluate.py", "score = 100\\n"))
    """
    result, workspace = attack(sandbox, tmp_path, script, files=PROTECTED_FILES, protected=("evaluate.py",))
    outcome = reported(result)
    assert outcome["chmod"] in ("EPERM", "EROFS") and outcome["chown"] in ("EPERM", "EROFS")
    assert outcome["then_write"] in ("EACCES", "EROFS")
    assert (workspace / "evaluate.py").stat().st_mode & 0o777 == 0o444
    assert result.protected_violations == []


def test_protected_files_cannot_be_deleted_replaced_or_added_to(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        write("fake.py", "score = 100\\n", "w")
        report(remove=attempt(os.remove, "evaluate.py"),
               replace=attempt(os.rename, "fake.py", "evaluate.py"),
               move_away=attempt(os.rename, "evaluate.py", "moved.py"),
               add_to_folder=attempt(write, "metrics/extra.py", "x = 1\\n", "w"),
               remove_folder=attempt(os.rename, "metrics", "metrics_old"))
    """
    result, workspace = attack(sandbox, tmp_path, script, files=PROTECTED_FILES, protected=("evaluate.py", "metrics"))
    outcome = reported(result)
    assert "ok" not in outcome.values(), outcome
    assert outcome["remove"] == outcome["replace"] == outcome["move_away"] == "EBUSY"  # mount points
    assert (workspace / "evaluate.py").read_text() == "score = 0\n"
    assert not (workspace / "metrics" / "extra.py").exists()
    assert result.protected_violations == []


def test_a_protected_file_cannot_be_swapped_out_with_its_unprotected_folder(sandbox: Sandbox, tmp_path: Path) -> None:
    """`src/` is editable, `src/evaluate.py` in it is not: moving the folder aside (or deleting it) and writing a
    fake `src/evaluate.py` in its place would swap the yardstick without touching the protected file itself."""
    script = """
        import shutil
        report(rename=attempt(os.rename, "src", "src_old"),
               rmtree=attempt(shutil.rmtree, "src"),
               sibling=attempt(write, "src/agent_notes.py", "x = 1\\n", "w"),
               fake=attempt(write, "src/evaluate.py", "score = 100\\n", "w"))
    """
    files = {"src/evaluate.py": "score = 0\n", "src/model.py": "w = 1\n"}
    result, workspace = attack(sandbox, tmp_path, script, files=files, protected=("src/evaluate.py",))
    outcome = reported(result)
    assert outcome["rename"] == "EBUSY" and outcome["rmtree"] in ("EBUSY", "EROFS", "EACCES")  # a mount point
    assert outcome["sibling"] == "ok"  # the folder's other files stay the agent's to edit
    assert outcome["fake"] in ("EACCES", "EROFS")
    assert (workspace / "src" / "evaluate.py").read_text() == "score = 0\n" and not (workspace / "src_old").exists()
    assert result.protected_violations == []


def test_attempts_on_protected_files_are_traced_even_when_caught_and_stderr_is_closed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Each attempt fails (the mounts); the script hides that (errors swallowed, fd 2 closed, exit 0), yet the
    sandbox's own trace (sandbox/write_trace.py) still reports every one, once, and honest writes not at all."""
    script = """
        import shutil
        os.close(2)
        attempts = [attempt(write, "src/evaluate.py", "score = 100\\n", "w"), attempt(os.rename, "src", "src_old"),
                    attempt(shutil.rmtree, "src"), attempt(os.chmod, "template.toml", 0o666),
                    attempt(write, ".sandbox/protected.json", "{}", "w"), attempt(write, "src/evaluate.py", "", "a"),
                    attempt(write, "src/model.py", "w = 2\\n", "w"), attempt(write, "notes.txt", "ok", "w")]
        report(attempts=attempts)
    """
    files = {"src/evaluate.py": "score = 0\n", "src/model.py": "w = 1\n", "template.toml": "wall_time_s = 5\n"}
    result, _ = attack(sandbox, tmp_path, script, files=files, protected=("src/evaluate.py", "template.toml"))
    assert result.exit_code == 0 and reported(result)["attempts"][-2:] == ["ok", "ok"]
    traced = [line for line in result.stderr_tail.splitlines() if line.startswith("scientist-protected:")]
    assert traced == [
        "scientist-protected: open src/evaluate.py",  # the append is the same line: reported once
        "scientist-protected: os.rename src",
        "scientist-protected: shutil.rmtree src",
        "scientist-protected: os.remove src/evaluate.py",  # rmtree's own unlink, relative to its folder's dir_fd
        "scientist-protected: os.chmod template.toml",
        "scientist-protected: open .sandbox/protected.json",
    ], result.stderr_tail


def test_attempts_through_a_folder_descriptor_or_ctypes_are_traced(sandbox: Sandbox, tmp_path: Path) -> None:
    """Past Python's path events: `dir_fd=` makes the event's path relative to a folder the working directory is
    not (`open` does not even carry the dir_fd), and libc reached through ctypes raises no path event at all. The
    mounts refuse every one; the trace must still report each, and honest files stay unreported."""
    script = """
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        folder = os.open("src", os.O_RDONLY | os.O_DIRECTORY)
        attempts = [attempt(os.open, "evaluate.py", os.O_WRONLY | os.O_TRUNC, dir_fd=folder),
                    attempt(os.remove, "evaluate.py", dir_fd=folder),
                    attempt(os.chmod, "evaluate.py", 0o666, dir_fd=folder),
                    libc.open(b"template.toml", os.O_WRONLY | os.O_TRUNC),
                    libc.unlink(ctypes.c_char_p(b"src/evaluate.py")),
                    attempt(os.open, "model.py", os.O_WRONLY | os.O_TRUNC, dir_fd=folder),
                    libc.getpid()]
        report(attempts=attempts[:-1])
    """
    files = {"src/evaluate.py": "score = 0\n", "src/model.py": "w = 1\n", "template.toml": "wall_time_s = 5\n"}
    result, workspace = attack(sandbox, tmp_path, script, files=files, protected=("src/evaluate.py", "template.toml"))
    outcome = reported(result)["attempts"]
    assert all(code in ("EACCES", "EROFS", "EBUSY") for code in outcome[:3]) and outcome[3:5] == [-1, -1]
    assert outcome[5] == "ok"  # the agent's own file in the same folder
    traced = [line for line in result.stderr_tail.splitlines() if line.startswith("scientist-")]
    assert traced == [
        "scientist-protected: open src/evaluate.py",
        "scientist-protected: os.remove src/evaluate.py",
        "scientist-protected: os.chmod src/evaluate.py",
        "scientist-bypass: ctypes.dlsym open",  # the call itself raises no event: the lookup is the evidence
        "scientist-bypass: ctypes.dlsym unlink",  # (getpid is no file call: not reported)
    ], result.stderr_tail
    events = protected_attempt_events(result.stderr_tail, "sandbox run")  # what the dynamic monitor makes of them
    expected = [("write_attempt", "critical")] * 3 + [("trace_bypass", "high")] * 2
    assert [(e.rule, e.severity) for e in events] == expected
    assert (workspace / "src" / "evaluate.py").read_text() == "score = 0\n"


def test_the_protected_manifest_cannot_be_forged(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        forged = json.dumps({"files": {"evaluate.py": "0" * 64}})
        report(write=attempt(write, ".sandbox/protected.json", forged, "w"),
               remove=attempt(os.remove, ".sandbox/protected.json"),
               rename_dir=attempt(os.rename, ".sandbox", "sandbox_old"))
    """
    result, workspace = attack(sandbox, tmp_path, script, files=PROTECTED_FILES, protected=("evaluate.py",))
    before = (tmp_path / "template" / "evaluate.py").read_text()
    outcome = reported(result)
    assert outcome["write"] in ("EACCES", "EROFS") and outcome["remove"] in ("EROFS", "EACCES")
    assert outcome["rename_dir"] == "EBUSY"  # the manifest's folder is a read-only mount point
    assert result.protected_violations == [] and (workspace / "evaluate.py").read_text() == before


def test_the_experiment_cannot_change_its_own_time_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    """The AI-Scientist incident: the agent edits its own timeout and keeps running. Limits come from the host."""
    toml = "[limits]\nwall_time_s = 2\n"
    script = """
        import resource
        report(edit_toml=attempt(write, "template.toml", "[limits]\\nwall_time_s = 99999\\n", "w"),
               raise_cpu=attempt(resource.setrlimit, resource.RLIMIT_CPU, (resource.RLIM_INFINITY,) * 2))
        time.sleep(3600)
    """
    limits = ATTACK.model_copy(update={"wall_time_s": 2})
    files = {"template.toml": toml}
    result, workspace = attack(sandbox, tmp_path, script, limits, files=files, protected=("template.toml",))
    outcome = reported(result)
    assert outcome["edit_toml"] in ("EACCES", "EROFS") and outcome["raise_cpu"] == "ValueError"
    assert result.timed_out and result.signal == signal.SIGKILL
    assert (workspace / "template.toml").read_text() == toml and result.protected_violations == []


def test_the_experiment_cannot_raise_its_own_memory_limit(sandbox: Sandbox, tmp_path: Path) -> None:
    """Rewriting the memory cgroup's limit, or the address-space rlimit, from inside the run is refused."""
    script = """
        import glob, resource
        targets = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                   "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"]
        targets += glob.glob("/sys/fs/cgroup/**/memory.limit_in_bytes", recursive=True)[:20]
        targets += glob.glob("/sys/fs/cgroup/**/memory.max", recursive=True)[:20]
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        raise_as = "unlimited" if hard == resource.RLIM_INFINITY else attempt(
            resource.setrlimit, resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        report(cgroup={path: attempt(write, path, "max", "w") for path in targets}, raise_as=raise_as,
               own=open("/proc/self/cgroup").read().strip().splitlines())
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["cgroup"] and "ok" not in outcome["cgroup"].values(), outcome["cgroup"]
    assert set(outcome["cgroup"].values()) <= {"ENOENT", "EROFS", "EACCES", "EPERM"}
    assert outcome["raise_as"] in ("unlimited", "ValueError")  # a cgroup holds the memory, or a hard rlimit does
    # its own cgroup namespace: the run sees its cgroup as the root, not the host's hierarchy
    assert all(line.endswith(":/") for line in outcome["own"]), outcome["own"]


def test_a_detached_process_does_not_outlive_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import signal
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    signal.signal(sig, signal.SIG_IGN)
                while True:
                    write("heartbeat.txt", ".")
                    time.sleep(0.05)
            os._exit(0)
        while not os.path.exists("heartbeat.txt"):
            time.sleep(0.01)
        print("daemon started", flush=True)
    """
    result, workspace = attack(sandbox, tmp_path, script)
    assert result.ok and "daemon started" in result.stdout_tail, result.stderr_tail
    beats = (workspace / "heartbeat.txt").stat().st_size
    time.sleep(0.5)  # ten heartbeats' worth: a surviving daemon would have written more
    assert (workspace / "heartbeat.txt").stat().st_size == beats
    assert leftovers(sandbox, workspace) == []


def test_host_processes_cannot_be_seen_or_signalled(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import signal
        host_pid = int(os.environ["HOST_PID"])
        report(kill_host=attempt(os.kill, host_pid, signal.SIGKILL),
               kill_all=attempt(os.kill, -1, signal.SIGKILL),
               host_visible=os.path.exists(f"/proc/{host_pid}"),
               pids=sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    """
    result, _ = attack(sandbox, tmp_path, script, env={"HOST_PID": str(os.getpid())})
    outcome = reported(result)
    assert outcome["kill_host"] == "ESRCH" and outcome["host_visible"] is False
    assert outcome["kill_all"] in ("ok", "ESRCH") and len(outcome["pids"]) <= 3  # its own pid namespace
    assert result.ok  # and the parent (this test process) is obviously still here


def test_scientist_cannot_be_reinvoked(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import subprocess
        def run(*argv):
            done = subprocess.run(argv, capture_output=True, text=True)
            return done.returncode, done.stderr[-200:]
        report(cli=attempt(run, "scientist", "run", "escape"),
               module=run(sys.executable, "-m", "scientist.cli", "run", "escape"),
               host_python=attempt(run, os.environ["HOST_PYTHON"], "-m", "scientist.cli", "--help"))
    """
    result, _ = attack(sandbox, tmp_path, script, env={"HOST_PYTHON": sys.executable})
    outcome = reported(result)
    assert outcome["cli"] == outcome["host_python"] == "ENOENT"
    assert outcome["module"][0] == 1 and "No module named 'scientist'" in outcome["module"][1]


def test_setuid_and_capabilities_are_gone(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        report(setuid=attempt(os.setuid, 0), setgid=attempt(os.setgid, 0),
               uid=os.getuid(), cap_eff=status["CapEff"].strip(), cap_prm=status["CapPrm"].strip(),
               no_new_privs=status["NoNewPrivs"].strip())
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    # EPERM, or EINVAL where uid 0 does not even exist (bwrap's user namespace maps only the sandbox user)
    assert {outcome["setuid"], outcome["setgid"]} <= {"EPERM", "EINVAL"} and outcome["uid"] != 0
    assert int(outcome["cap_eff"], 16) == int(outcome["cap_prm"], 16) == 0
    assert outcome["no_new_privs"] == "1"  # setuid binaries cannot give privileges back


def test_mounting_chroot_and_new_namespaces_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def call(fn, *args):
            if fn(*args) != 0:
                raise OSError(ctypes.get_errno(), "failed")
        CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
        report(mount=attempt(call, libc.mount, b"none", b"/tmp", b"tmpfs", 0, None),
               chroot=attempt(os.chroot, "/tmp"),
               userns=attempt(call, libc.unshare, CLONE_NEWUSER),
               mountns=attempt(call, libc.unshare, CLONE_NEWNS))
    """
    result, _ = attack(sandbox, tmp_path, script)
    outcome = reported(result)
    assert outcome["mount"] == outcome["chroot"] == outcome["mountns"] == "EPERM"
    assert outcome["userns"] in ("EPERM", "ENOSPC")  # seccomp (Docker) or --disable-userns (bwrap)


def test_ptrace_cannot_reach_the_host(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PTRACE_ATTACH = 16
        host_pid = int(os.environ["HOST_PID"])
        def attach(pid):
            if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
                raise OSError(ctypes.get_errno(), "ptrace")
        report(host=attempt(attach, host_pid), mem=attempt(read, f"/proc/{host_pid}/mem"))
    """
    result, _ = attack(sandbox, tmp_path, script, env={"HOST_PID": str(os.getpid())})
    # Docker: the host pid does not exist in the run's pid namespace; local: the seccomp filter denies ptrace first.
    expected = "ESRCH" if sandbox.backend == "docker" else "EPERM"
    assert reported(result) == {"host": expected, "mem": "ENOENT"}


def test_the_suite_has_at_least_25_attacks() -> None:
    attacks = [name for name in globals() if name.startswith("test_") and "at_least_25" not in name]
    assert len(attacks) + 1 >= 25  # the in-memory folders test counts twice (/tmp, /dev/shm)
