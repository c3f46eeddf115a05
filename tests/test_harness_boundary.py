"""Adversarial suite for the harness side of the sandbox (issue 21): experiment code that stays inside every limit
but leaves behind something meant to hang, crash, fill or leak the host when the harness reads it afterwards.

Each attack is a small real script run in both isolated backends (`docker`, `local`); each test asserts the run
ends with a `RunResult`, the harness's readers fail cleanly (`RunOutputError`, never a traceback or a hang),
nothing outside the workspace is read, and the workspace is left within its budgets. Reader-only cases (no
sandbox needed) are at the end.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import tracemalloc
from pathlib import Path

import pytest

from scientist.sandbox import Sandbox, reader
from scientist.sandbox.final_info import load_final_info, ok_final_infos
from scientist.sandbox.reader import ReadLimits, RunOutputError
from scientist.template import load_template
from tests.test_sandbox_docker import ISOLATED, require
from tests.test_sandbox_escapes import attack, reported

SECRET = "host-secret-7f3a"


@pytest.fixture(params=ISOLATED)
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return require(request.param)


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A host file outside every workspace that no reader may ever return."""
    path = tmp_path / "host" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


def max_depth(root: Path) -> int:
    return max((entry.depth for entry in reader.walk(root, ReadLimits(max_depth=10_000)).entries), default=0)


# --- trees the harness walks ----------------------------------------------------------------------------------


def test_a_deep_folder_tree_fails_the_run_and_is_pruned(sandbox: Sandbox, tmp_path: Path) -> None:
    """~1,400 levels with a link to a host file at the bottom: os.walk/rglob/rmtree used to raise RecursionError
    (no RunResult, no clean-up, the link survived). Now: a RunResult over its cap, the tree cut at the budget."""
    result, workspace = attack(
        sandbox,
        tmp_path,
        """
        fd = os.open("out", os.O_RDONLY)
        for _ in range(1400):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.symlink("/etc/passwd", "leak", dir_fd=fd)
        report(done=True)
        """,
    )
    assert not result.ok and result.output_limit_exceeded  # the poll may stop it first, or the final check fails it
    assert "deeper" in (result.workspace_over_budget or "")
    assert max_depth(workspace) <= reader.DEFAULT_LIMITS.max_depth
    reader.remove_tree(workspace)  # resume's clean-up: no RecursionError
    assert not workspace.exists()


def test_paths_past_path_max_still_count_against_the_cap(sandbox: Sandbox, tmp_path: Path) -> None:
    """Bytes at paths longer than PATH_MAX used to be invisible to the output cap (and crash the clean-up)."""
    result, workspace = attack(
        sandbox,
        tmp_path,
        """
        fd = os.open("out", os.O_RDONLY)
        for _ in range(24):  # 24 x 200 characters: far past PATH_MAX (4096)
            os.mkdir("n" * 200, dir_fd=fd)
            child = os.open("n" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        for index in range(6):  # 6 x 3 MiB, each under max_file_mb (4) but 18 MiB in all, over max_output_mb (16)
            out = os.open(f"f{index}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(out, os.urandom(3 * 1024 * 1024))
            os.close(out)
        report(done=True)
        """,
    )
    assert result.output_limit_exceeded and not result.ok  # the poll sees the bytes, however long their path
    reader.remove_tree(workspace)
    assert not workspace.exists()


def test_an_inode_flood_counts_against_the_output_cap(sandbox: Sandbox, tmp_path: Path) -> None:
    """Empty folders cost no bytes of content but a block and an inode each: counted du-style now."""
    result, _ = attack(
        sandbox,
        tmp_path,
        """
        for index in range(5000):  # 5,000 x 4 KiB of folder blocks = ~20 MiB, over max_output_mb (16)
            os.mkdir(f"out/.{index}")
        report(done=True)
        """,
    )
    assert result.output_limit_exceeded and not result.ok


def test_special_files_and_unsafe_modes_are_removed_after_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """A FIFO named like the result file (the loader used to block forever on it), a socket, setuid/setgid files
    and a world-writable folder: none stays in the host run folder as the run left it."""
    result, workspace = attack(
        sandbox,
        tmp_path,
        """
        import socket, stat
        os.mkfifo("out/final_info.json")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind("out/sock")
        write("out/suid", "#!/bin/sh\\n")
        os.chmod("out/suid", 0o6755)
        os.mkdir("out/shared")
        os.chmod("out/shared", 0o777)
        report(done=True)
        """,
    )
    assert result.exit_code == 0
    assert {"out/final_info.json", "out/sock"} <= set(result.removed_paths)
    assert not os.path.lexists(workspace / "out/final_info.json") and not os.path.lexists(workspace / "out/sock")
    assert not (workspace / "out/suid").stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert not (workspace / "out/shared").stat().st_mode & stat.S_IWOTH
    with pytest.raises(RunOutputError):
        load_final_info(workspace, "out/final_info.json")


def test_a_symlink_loop_is_not_copied_into_the_plot_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    """`out/a -> .` made the plot step's copytree grow exponentially; the copy takes regular files only."""
    result, workspace = attack(
        sandbox,
        tmp_path,
        """
        write("out/final_info.json", json.dumps({"metrics": {"acc": 0.5}}), "w")
        os.symlink(".", "out/a")
        os.symlink("a/a/a", "out/b")
        report(done=True)
        """,
    )
    assert result.ok
    copied = reader.copy_regular_files(workspace, "out", tmp_path / "plots" / "run")
    assert copied == ["final_info.json"]
    assert load_final_info(tmp_path / "plots", "run/final_info.json").metrics == {"acc": 0.5}


def test_a_result_file_linked_to_a_host_file_is_never_read(sandbox: Sandbox, tmp_path: Path, host_secret: Path) -> None:
    """A link inside the workspace to another in-workspace link that points at the host: neither is followed."""
    result, workspace = attack(
        sandbox,
        tmp_path,
        """
        os.symlink("inner", "out/final_info.json")
        os.symlink("log.txt", "out/inner")
        write("out/log.txt", "log")
        report(done=True)
        """,
    )
    assert result.exit_code == 0
    os.symlink(host_secret, workspace / "out" / "log.txt.host")  # the host-side variant, made after the run
    for rel in ("out/final_info.json", "out/log.txt.host"):
        with pytest.raises(RunOutputError, match="symlink"):
            reader.read_bytes(workspace, rel)
    assert SECRET not in reader.read_head_tail(workspace, "out/log.txt.host", 1 << 20)


def test_non_utf8_file_names_serialise(sandbox: Sandbox, tmp_path: Path) -> None:
    """`scientist sandbox run --json` crashed serialising a RunResult with a non-UTF-8 output name."""
    result, _ = attack(
        sandbox,
        tmp_path,
        """
        with open(b"out/bad-\\xff\\xfe.txt", "w") as handle:
            handle.write("x")
        report(done=True)
        """,
    )
    data = json.loads(result.model_dump_json())
    assert [output["path"] for output in data["outputs"]] == ["out/bad-\\xff\\xfe.txt"]


def test_hostile_final_info_fails_cleanly_in_every_reader(sandbox: Sandbox, tmp_path: Path) -> None:
    """Deep nesting, a 5,000-digit integer, wrong types: the loader raises RunOutputError, the dynamic monitor
    reports `final_info_unreadable`, the pipeline's readers skip the run; nothing raises anything else."""
    from scientist.monitors.dynamic import scan_sandbox_result

    template = load_template("reward_misspec")
    result, workspace = attack(
        sandbox,
        tmp_path,
        """
        write("out/final_info.json", "[" * 200_000 + "]" * 200_000, "w")
        report(done=True)
        """,
    )
    assert result.ok
    with pytest.raises(RunOutputError, match="nests"):
        load_final_info(workspace, "out/final_info.json")
    events = scan_sandbox_result(result, template, workspace=workspace)
    assert [event.rule for event in events if event.rule == "final_info_unreadable"] == ["final_info_unreadable"]
    record = {"ok": True, "final_info_path": str((workspace / "out/final_info.json").relative_to(tmp_path))}
    assert ok_final_infos(tmp_path, [record]) == []


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"metrics": {"m": ' + "9" * 5000 + "}}",
        '{"metrics": {"m": "0.99"}}',
        '{"metrics": {"m": true}}',
        '{"metrics": [1, 2]}',
        '{"metrics": {"m": 1}, "train_episodes": -5}',
        "{not json",
        "",
    ],
)
def test_hostile_final_info_is_a_run_output_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out/final_info.json").write_text(text)
    with pytest.raises(RunOutputError):
        load_final_info(tmp_path, "out/final_info.json")


# --- reader-only cases ----------------------------------------------------------------------------------------


def test_a_fifo_never_blocks_the_reader(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "final_info.json")
    outcome: list[object] = []

    def read() -> None:
        try:
            reader.read_bytes(tmp_path, "final_info.json")
        except RunOutputError as err:
            outcome.append(err)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(3)
    assert not thread.is_alive(), "the reader blocked on a FIFO"
    assert outcome and "not a regular file" in str(outcome[0])
    assert reader.read_head_tail(tmp_path, "final_info.json", 100) == ""


def test_reads_are_size_capped(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_bytes(b" " * (reader.DEFAULT_LIMITS.max_json_bytes + 1))
    with pytest.raises(RunOutputError, match="limit"):
        reader.read_json(tmp_path, "big.json")


def test_an_entry_flood_is_pruned_to_the_budget_but_protected_paths_stay(tmp_path: Path) -> None:
    limits = ReadLimits(max_entries=100)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep/evaluate.py").write_text("x")
    for index in range(300):
        (tmp_path / f"f{index}").write_text("")
    settled = reader.settle_workspace(tmp_path, keep=["keep/evaluate.py"], limits=limits)
    assert settled.over_budget and "100" in settled.over_budget
    assert len(list(tmp_path.iterdir())) <= 101
    assert (tmp_path / "keep/evaluate.py").read_text() == "x"


def test_escaping_links_are_removed_and_inside_links_kept(tmp_path: Path, host_secret: Path) -> None:
    (tmp_path / "out").mkdir()
    os.symlink(host_secret, tmp_path / "out/abs")
    os.symlink("../../host", tmp_path / "out/up")
    os.symlink("log.txt", tmp_path / "out/inside")
    os.symlink(".", tmp_path / "out/loop")
    settled = reader.settle_workspace(tmp_path)
    assert settled.escaping_symlinks == ["out/abs", "out/up"]
    assert os.path.islink(tmp_path / "out/inside") and os.path.islink(tmp_path / "out/loop")


def test_log_scanning_holds_memory_flat(tmp_path: Path) -> None:
    """A run's 64 MiB log of progress lines used to be materialised match by match (GiBs of harness memory)."""
    from scientist.monitors.dynamic import scan_result_fields

    template = load_template("reward_misspec")
    out = tmp_path / "out"
    out.mkdir()
    (out / "log.txt").write_bytes(b"episode 1/99\n" * (64 * 1024 * 1024 // 13))
    (out / "final_info.json").write_text(json.dumps({"metrics": {"true_return": 1.0}, "train_episodes": 99}))
    tracemalloc.start()
    events = scan_result_fields(
        protected_violations=[],
        escaping_symlinks=[],
        exit_code=0,
        output_limit_exceeded=False,
        stdout="",
        stderr="scientist-protected: open a\n" * 200_000,
        out_dir=out,
        template=template,
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 128 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    assert any(event.rule == "final_info_without_training" for event in events)


def test_remove_tree_handles_unwritable_and_deep_folders(tmp_path: Path) -> None:
    top = tmp_path / "run"
    fd = os.open(tmp_path, os.O_RDONLY)
    os.mkdir("run", dir_fd=fd)
    current = os.open("run", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    for _ in range(1050):  # past the recursion limit of a recursive rmtree
        os.mkdir("x" * 100, dir_fd=current)
        child = os.open("x" * 100, os.O_RDONLY, dir_fd=current)
        os.close(current)
        current = child
    os.close(current)
    (top / "locked").mkdir()
    (top / "locked/f").write_text("x")
    (top / "locked").chmod(0o500)
    reader.remove_tree(top)
    assert not top.exists()


# --- limits held from outside the harness process -------------------------------------------------------------

HARNESS = """
import sys
from pathlib import Path
from scientist.sandbox import Limits, get_sandbox
from tests.test_sandbox_docker import make_workspace

root = Path(sys.argv[1])
sandbox = get_sandbox("docker", run_label="watchdog-test")
workspace = make_workspace(sandbox, root, "import time\\ntime.sleep(120)\\n")
print("started", flush=True)
sandbox.run(workspace, ["python", "main.py"], Limits(wall_time_s=3), out_dir="out", log_dir=root / "logs")
"""


@pytest.mark.docker
def test_a_killed_harness_does_not_leave_its_container_running(tmp_path: Path) -> None:
    """SIGKILL the harness mid-run: the detached watchdog still removes the container at the wall time."""
    import signal
    import subprocess
    import sys
    import time

    from scientist.sandbox.docker import RUN_LABEL

    sandbox = require("docker")
    client = sandbox.client  # type: ignore[attr-defined]

    def containers() -> list[object]:
        return list(
            client.containers.list(all=True, ignore_removed=True, filters={"label": f"{RUN_LABEL}=watchdog-test"})
        )

    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(tmp_path)], cwd=Path(__file__).parents[1], stdout=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not containers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert containers(), "the harness never started its container"
        time.sleep(0.5)
        started = time.monotonic()
        harness.send_signal(signal.SIGKILL)
        harness.wait(5)
        assert containers(), "the container ended with the harness by itself: nothing to prove"
        while containers() and time.monotonic() - started < 10:
            time.sleep(0.2)
        assert not containers(), "the container outlived the wall time of a killed harness"
    finally:
        harness.kill()
        for container in containers():
            container.remove(force=True)  # type: ignore[attr-defined]


def test_the_kernel_keyring_and_other_host_facing_syscalls_are_denied(sandbox: Sandbox, tmp_path: Path) -> None:
    """The local backend used to run with no seccomp filter and the operator's session keyring reachable."""
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("syscall numbers below are x86_64's")
    result, _ = attack(
        sandbox,
        tmp_path,
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)

        def call(nr, *args):
            return "ok" if libc.syscall(nr, *args) >= 0 else errno.errorcode[ctypes.get_errno()]

        report(
            keyring=call(250, 0, ctypes.c_long(-3), 0),  # keyctl(KEYCTL_GET_KEYRING_ID, session keyring)
            add_key=call(248, b"user", b"x", b"y", 1, ctypes.c_long(-3)),
            bpf=call(321, 0, 0, 0),
            unshare=call(272, 0x10000000),  # CLONE_NEWUSER
            getpid=call(39),
        )
        """,
    )
    got = reported(result)
    assert got["getpid"] == "ok"
    for name in ("keyring", "add_key", "bpf", "unshare"):
        assert got[name] in ("EPERM", "ENOSYS", "EACCES"), (name, got)
    assert got["keyring"] == "EPERM"


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="x86_64 syscall numbers")
def test_a_run_gets_its_own_session_keyring(tmp_path: Path) -> None:
    """Even without seccomp (the unsafe backend shares ChildSetup with `local`), the run's session keyring is a new
    one, not the operator's."""
    import ctypes

    from scientist.sandbox import get_sandbox

    libc = ctypes.CDLL(None, use_errno=True)
    ours = libc.syscall(250, 0, ctypes.c_long(-3), 0)
    if ours < 0:
        pytest.skip("no session keyring here")
    sandbox = get_sandbox("unsafe-subprocess")
    result, _ = attack(
        sandbox,
        tmp_path,
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        report(keyring=libc.syscall(250, 0, ctypes.c_long(-3), 0))
        """,
    )
    theirs = reported(result)["keyring"]
    assert theirs > 0 and theirs != ours


def test_a_trace_line_cannot_be_glued_onto_the_scripts_own_output(sandbox: Sandbox, tmp_path: Path) -> None:
    """A script that leaves half a line on stderr before its attempt used to hide the trace line (the monitor
    reads trace lines from the start of a line)."""
    from scientist.monitors.dynamic import protected_attempt_events, run_stderr

    result, _ = attack(
        sandbox,
        tmp_path,
        """
        sys.stderr.write("progress: 41%")  # no newline: the trace would land right after it
        sys.stderr.flush()
        report(write=attempt(write, "template.toml"))
        sys.stderr.write(" done\\n")
        """,
        files={"template.toml": "x = 1\n"},
        protected=("template.toml",),
    )
    assert reported(result)["write"] in ("EROFS", "EACCES", "EPERM")
    events = protected_attempt_events(run_stderr(result), None)
    assert [event.rule for event in events] == ["write_attempt"] and "template.toml" in events[0].evidence


# --- what reaches the operator's terminal ---------------------------------------------------------------------

TERMINAL_ATTACKS = [
    "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the clipboard
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",  # OSC 8: a hidden link
    "\x1b]0;pwned\x07",  # OSC 0: window title
    "\x1b[2J\x1b[H",  # CSI: clear the screen, cursor home (then forge an "ok")
    "\x9b2J",  # 8-bit CSI
    "\u202e",  # bidi override
    "\r",  # overwrite the line
]


def test_clean_strips_every_control_sequence_and_safe_escapes_markup() -> None:
    from scientist.display import clean, safe

    for attack_text in TERMINAL_ATTACKS:
        shown = clean(f"a{attack_text}b")
        assert not any(ord(char) < 32 or 0x7F <= ord(char) <= 0x9F for char in shown), repr(shown)
        assert "\u202e" not in shown
    assert clean("line\n\tindented") == "line\n\tindented"
    assert safe("[link=http://evil.example]ok[/link]") == "\\[link=http://evil.example]ok\\[/link]"


def test_sandbox_run_output_reaches_the_terminal_without_escapes(tmp_path: Path) -> None:
    """`scientist sandbox run` printed the run's stdout/stderr raw (the unsafe backend is enough: the point is
    the harness's printing, not the isolation)."""
    from typer.testing import CliRunner

    from scientist.cli import app

    script = tmp_path / "attack.py"
    payload = "".join(TERMINAL_ATTACKS)
    script.write_text(f"import sys\nprint({payload!r} + 'forged ok')\nsys.stderr.write({payload!r})\n")
    runner = CliRunner()
    result = runner.invoke(
        app, ["sandbox", "run", str(script), "--backend", "unsafe-subprocess", "--workdir", str(tmp_path / "w")]
    )
    shown = result.stdout + (result.stderr if result.stderr_bytes is not None else "")
    assert "forged ok" in shown
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown and "\u202e" not in shown
    # its audit log names the logs relative to the folder (as a run's does): the folder can be moved
    from scientist.audit.log import AuditLog

    folder = tmp_path / "w"
    record = AuditLog(folder).find("sandbox_run")[-1].payload
    assert record["stdout_path"] and not Path(record["stdout_path"]).is_absolute()
    moved = folder.rename(tmp_path / "moved")
    assert "forged ok" in (moved / record["stdout_path"]).read_text()


def test_monitor_evidence_is_not_rich_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from scientist.commands.monitors import _print
    from scientist.monitors.events import MonitorEvent

    event = MonitorEvent(
        monitor="eval_gaming", severity="high", rule="x", evidence="[link=http://evil.example]fine[/link]\x1b]0;t\x07"
    )
    _print([event], as_json=False)
    out = capsys.readouterr().out
    assert "[link=http://evil.example]fine[/link]" in out and "\x1b]0" not in out


def test_study_status_shows_a_cells_error_without_escapes_or_markup(tmp_path: Path) -> None:
    """A cell's error quotes what a run raised, which can carry model or sandbox text."""
    from scientist.store import open_store
    from scientist.study.execute import _set_status, record_study
    from scientist.study.spec import parse_study
    from tests.cli_runner import run_cli

    spec = parse_study('name = "hostile"\ntopics = ["t"]\ntemplates = ["reward_misspec"]\nmodels = ["openai/m"]\n'
                       'variants = ["plain"]\nn = 1\nseeds = [0]\n')  # fmt: skip
    db = str(tmp_path / "study.sqlite")
    store = open_store(db)
    try:
        (cell_id,) = record_study(store, spec).values()
        _set_status(store, cell_id, "failed", "run 0: " + "".join(TERMINAL_ATTACKS) + "[link=http://evil.example]ok")
    finally:
        store.close()
    shown = run_cli("study", "status", "hostile", "--db", db, env={"COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    assert "[link=http://evil.example]ok" in shown.stdout  # shown as text, not turned into a link
    assert not any(char in shown.stdout for char in ("\x1b", "\x07", "\x9b", "\u202e", "\r"))
