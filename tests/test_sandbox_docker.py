"""The isolated sandbox backends (`docker`, and `local`, i.e. bubblewrap) doing their job: the common contract,
the image's Python, workspace ownership, cleanup of leftovers, clear errors, the CLI, audit records, the build
cache.

Nothing under test is mocked: runs are real containers and real bwrap namespaces. Without Docker (or the image,
or bwrap and its root filesystem) these tests skip with the reason; with CI=true they fail instead, because CI
installs all of it (scripts/ci_sandbox.sh).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scientist.audit.log import AuditLog
from scientist.errors import SandboxError
from scientist.sandbox import Limits, RunResult, Sandbox, get_sandbox, open_sandbox, record_choice
from scientist.sandbox.base import hand_over_workspace, remove_escaping_symlinks

QUICK = Limits(wall_time_s=20, memory_mb=512)
ISOLATED = [pytest.param("docker", marks=pytest.mark.docker), "local"]

_made: dict[str, Sandbox | str] = {}


def require(name: str) -> Sandbox:
    """The backend, made once per session; skip when this machine lacks it, but fail under CI=true."""
    if name not in _made:
        try:
            sandbox = get_sandbox(name)
            if name == "local" and getattr(sandbox, "image", None) == "host:/usr":
                raise SandboxError("no sandbox root filesystem (numpy, matplotlib)", "scientist sandbox build")
            _made[name] = sandbox
        except SandboxError as err:
            _made[name] = str(err)
    made = _made[name]
    if isinstance(made, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"the {name} sandbox is required in CI: {made}")
        pytest.skip(f"the {name} sandbox is not available here: {made}")
    return made


@pytest.fixture(params=ISOLATED)
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return require(request.param)


def make_workspace(
    sandbox: Sandbox,
    root: Path,
    script: str,
    files: dict[str, str] | None = None,
    protected: tuple[str, ...] = (),
) -> Path:
    template = root / "template"
    for rel, text in {"main.py": textwrap.dedent(script), **(files or {})}.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    workspace = root / "workspace"
    sandbox.prepare(template, workspace, protected)
    return workspace


def run(
    sandbox: Sandbox,
    workspace: Path,
    limits: Limits = QUICK,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> RunResult:
    logs = workspace.parent / "logs"
    return sandbox.run(workspace, ["python", "main.py", *args], limits, out_dir="out", log_dir=logs, env=env)


def test_outputs_are_hashed_and_the_image_is_recorded(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import os, sys
        os.makedirs("out/sub", exist_ok=True)
        open("out/result.txt", "w").write("hello")
        open("out/sub/data.bin", "wb").write(bytes(range(256)) * 10)
        open("scratch.txt", "w").write("not an output")
        print("python", sys.executable, os.getcwd())
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace)
    assert result.ok and result.exit_code == 0 and result.signal is None, result.stderr_tail
    assert result.backend == sandbox.backend and result.command == ["python3", "main.py"]
    assert result.stdout_tail == "python /usr/bin/python3 /work/run\n"
    expected = {"out/result.txt": b"hello", "out/sub/data.bin": bytes(range(256)) * 10}
    assert [o.path for o in result.outputs] == sorted(expected)
    for output in result.outputs:
        assert output.sha256 == hashlib.sha256(expected[output.path]).hexdigest()
    assert result.protected_violations == [] and not result.output_limit_exceeded
    assert result.image == getattr(sandbox, "image_id", getattr(sandbox, "image", None)) and result.image
    assert result.limits == QUICK
    assert Path(result.stdout_path).read_text() == result.stdout_tail


def test_the_image_has_the_experiment_libraries(sandbox: Sandbox, tmp_path: Path) -> None:
    script = """
        import matplotlib.pyplot as plt, numpy as np, scipy.stats
        fig, ax = plt.subplots()
        ax.plot(np.arange(10), scipy.stats.norm.pdf(np.linspace(-2, 2, 10)))
        fig.savefig("out/plot.png")
    """
    workspace = make_workspace(sandbox, tmp_path, script)
    result = run(sandbox, workspace)
    assert result.ok, result.stderr_tail
    assert [o.path for o in result.outputs] == ["out/plot.png"]
    assert (workspace / "out" / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_the_workspace_is_writable_but_protected_files_are_not(sandbox: Sandbox, tmp_path: Path) -> None:
    """Run folders are created by the host user (root in CI); the sandbox user must still write its config."""
    script = """
        import json, os
        print("uid", os.getuid())
        json.dump({"lr": 0.5}, open("config.json", "w"))
        os.makedirs("new/dir")
        open("new/dir/file", "w").write("x")
        for name in ("evaluate.py", "metrics/score.py", "metrics/new.py"):
            try:
                open(name, "a").write("hacked")
                print("WROTE", name)
            except OSError as err:
                print("denied", name, err.errno)
    """
    files = {"config.json": '{"lr": 0.1}', "evaluate.py": "score = 0\n", "metrics/score.py": "x = 1\n"}
    workspace = make_workspace(sandbox, tmp_path, script, files, protected=("evaluate.py", "metrics"))
    result = run(sandbox, workspace)
    assert result.ok, result.stderr_tail
    assert "WROTE" not in result.stdout_tail and result.stdout_tail.count("denied") == 3
    assert json.loads((workspace / "config.json").read_text()) == {"lr": 0.5}
    assert (workspace / "new" / "dir" / "file").read_text() == "x"
    assert result.protected_violations == []
    assert (workspace / "evaluate.py").read_text() == "score = 0\n"
    assert not (workspace / "metrics" / "new.py").exists()
    if os.geteuid() == 0:  # protected files stay the host user's, the rest belongs to the sandbox user
        assert (workspace / "evaluate.py").stat().st_uid == 0
        assert (workspace / "config.json").stat().st_uid != 0


def test_the_template_experiment_runs_as_the_pipeline_runs_it(sandbox: Sandbox, tmp_path: Path) -> None:
    from scientist.template import load_template

    template = load_template("reward_misspec")
    workspace = tmp_path / "workspace"
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    config = json.loads((workspace / "config.json").read_text())
    (workspace / "config.json").write_text(json.dumps({**config, "episodes": 200}))  # as the experiment stage does
    limits = Limits(wall_time_s=template.limits.wall_time_s, memory_mb=template.limits.memory_mb)
    command = ["python", "experiment.py", "--out_dir", "out", "--config", "config.json", "--seed", "0"]
    result = sandbox.run(workspace, command, limits, out_dir="out", log_dir=tmp_path / "logs")
    assert result.ok, result.stderr_tail
    info = json.loads((workspace / "out" / "final_info.json").read_text())
    assert "true_return" in json.dumps(info)
    assert "out/final_info.json" in [o.path for o in result.outputs]
    assert result.protected_violations == []


def test_a_missing_command_is_a_sandbox_error_or_a_failed_run(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = make_workspace(sandbox, tmp_path, "")
    try:
        result = sandbox.run(workspace, ["no-such-program"], QUICK, out_dir="out", log_dir=tmp_path / "logs")
    except SandboxError as err:
        assert "no-such-program" in str(err)
    else:  # docker-init reports it as exit 127 from inside the container
        assert result.exit_code == 127 and not result.ok


@pytest.mark.docker
def test_cleanup_removes_the_containers_a_crashed_run_left(tmp_path: Path) -> None:
    import docker.errors

    from scientist.sandbox.docker import LABEL, RUN_LABEL, WORKSPACE_LABEL, cleanup_run
    from scientist.sandbox.process import workspace_marker

    sandbox: Any = require("docker")
    workspace = make_workspace(sandbox, tmp_path, "")
    marker = workspace_marker(workspace.resolve())

    def orphan(labels: dict[str, str]) -> Any:  # what a killed scientist leaves: a container still running
        return sandbox.client.containers.run(
            sandbox.image_id, ["sleep", "60"], detach=True, network_mode="none", labels={LABEL: "1", **labels}
        )

    by_workspace = orphan({WORKSPACE_LABEL: marker, RUN_LABEL: "run-a"})
    by_run = orphan({WORKSPACE_LABEL: "elsewhere", RUN_LABEL: "run-b"})
    bystander = sandbox.client.containers.run(sandbox.image_id, ["sleep", "60"], detach=True, network_mode="none")
    try:
        sandbox.cleanup(workspace)
        assert cleanup_run("run-b") == 1
        alive = {c.id for c in sandbox.client.containers.list(all=True, ignore_removed=True)}
        assert by_workspace.id not in alive and by_run.id not in alive
        assert bystander.id in alive
    finally:
        for container in (by_workspace, by_run, bystander):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


@pytest.mark.docker
def test_a_finished_run_leaves_no_container(tmp_path: Path) -> None:
    from scientist.sandbox.docker import WORKSPACE_LABEL
    from scientist.sandbox.process import workspace_marker

    sandbox: Any = require("docker")
    workspace = make_workspace(sandbox, tmp_path, "import time\ntime.sleep(30)\n")
    result = run(sandbox, workspace, Limits(wall_time_s=2))
    assert result.timed_out
    label = f"{WORKSPACE_LABEL}={workspace_marker(workspace.resolve())}"
    assert sandbox.client.containers.list(all=True, ignore_removed=True, filters={"label": label}) == []


@pytest.mark.docker
def test_a_missing_image_names_the_build_command() -> None:
    require("docker")
    with pytest.raises(SandboxError, match="not built") as info:
        get_sandbox("docker", image="scientist-sandbox:no-such-version")
    assert info.value.hint is not None and "scientist sandbox build" in info.value.hint


def test_a_docker_engine_that_is_down_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(SandboxError, match="not reachable") as info:
        get_sandbox("docker")
    assert info.value.hint is not None and "dockerd" in info.value.hint and "--sandbox local" in info.value.hint
    assert "sandbox_fallback" in info.value.hint


def test_a_configured_fallback_replaces_an_unavailable_backend_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require("local")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with caplog.at_level(logging.WARNING, logger="scientist.sandbox"):
        choice = open_sandbox("docker", fallback="local", run_label="r7")
    backend = choice.sandbox
    assert backend.backend == "local" and getattr(backend, "isolated", False) and choice.requested == "docker"
    assert getattr(backend, "run_label", None) == "r7" and choice.fallback_reason is not None
    assert "not reachable" in choice.fallback_reason
    assert "sandbox docker unavailable" in caplog.text and "using local" in caplog.text
    audit = AuditLog(tmp_path / "run")
    record_choice(audit, choice)
    [record] = audit.records()
    assert record.kind == "sandbox_fallback" and record.actor == "sandbox:local"
    assert record.payload["requested"] == "docker" and record.payload["used"] == "local"


def test_ci_turns_a_missing_backend_into_a_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setitem(_made, "docker-ci-probe", "engine down")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        require("docker-ci-probe")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not available"):
        require("docker-ci-probe")


def test_choosing_the_unsafe_backend_explicitly_warns_loudly_and_is_audited(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING, logger="scientist.sandbox"):
        choice = open_sandbox("unsafe-subprocess")
    backend = choice.sandbox
    assert backend.backend == "unsafe-subprocess" and not getattr(backend, "isolated", True)
    assert "UNSAFE SANDBOX" in caplog.text
    audit = AuditLog(tmp_path / "run")
    record_choice(audit, choice)
    assert [(r.kind, r.payload["backend"]) for r in audit.records()] == [("sandbox_unisolated", "unsafe-subprocess")]
    caplog.clear()
    local = require("local")
    assert "UNSAFE" not in caplog.text and getattr(local, "isolated", False)


def test_local_is_the_bubblewrap_backend_and_bwrap_its_old_name() -> None:
    from scientist.sandbox.base import BACKENDS, CHOICES
    from scientist.sandbox.bwrap import BwrapSandbox
    from scientist.sandbox.unsafe import UnsafeSubprocessSandbox

    assert BACKENDS.get("local") is BACKENDS.get("bwrap") is BwrapSandbox
    assert CHOICES == ("docker", "local", "unsafe-subprocess") and "bwrap" not in BACKENDS.names()  # an old name
    assert [name for name in BACKENDS.names() if BACKENDS.get(name) is UnsafeSubprocessSandbox] == ["unsafe-subprocess"]


def test_every_backend_takes_a_run_label() -> None:
    require("local")
    assert getattr(get_sandbox("local", run_label="r1"), "run_label", None) == "r1"
    assert getattr(get_sandbox("unsafe-subprocess", run_label="r2"), "run_label", None) == "r2"
    with pytest.raises(SandboxError, match="unknown sandbox backend") as info:
        get_sandbox("vm")
    assert info.value.hint is not None
    assert all(name in info.value.hint for name in ("docker", "local", "unsafe-subprocess"))


def test_bwrap_command_line_is_hardened(tmp_path: Path) -> None:
    from scientist.sandbox.bwrap import Layout, bwrap_args

    args = bwrap_args(
        "/usr/bin/bwrap",
        Layout("/stage/workspace", "/stage/rootfs", tmp_path),
        ["evaluate.py", ".sandbox/protected.json"],
        ["python3", "main.py"],
        {"HOME": "/work/run"},
        Limits(tmp_mb=8),
        7,
    )
    line = " ".join(args)
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"):
        assert flag in args
    assert "--ro-bind /stage/rootfs/usr /usr" in line and "--ro-bind /stage/rootfs/etc /etc" in line
    assert "--bind /stage/workspace /work/run" in line
    assert "--ro-bind /stage/workspace/evaluate.py /work/run/evaluate.py" in line
    assert "--size 8388608 --tmpfs /tmp" in line and "--size 8388608 --tmpfs /dev/shm" in line
    # read-only root after every bind, the environment cleared, and the command last
    assert args.index("--remount-ro") > max(i for i, a in enumerate(args) if a in ("--bind", "--ro-bind"))
    assert "--clearenv" in args and args[-3:] == ["--", "python3", "main.py"]


def test_symlinks_out_of_the_workspace_are_removed_after_a_run(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "out").mkdir(parents=True)
    (workspace / "data.txt").write_text("x")
    (workspace / "out" / "ok").symlink_to("../data.txt")
    (workspace / "out" / "abs").symlink_to("/etc/passwd")
    (workspace / "out" / "up").symlink_to("../../outside")
    (workspace / "dirlink").symlink_to("/")
    assert remove_escaping_symlinks(workspace) == ["dirlink", "out/abs", "out/up"]
    assert (workspace / "out" / "ok").is_symlink() and not (workspace / "out" / "abs").is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another uid needs root")
def test_hand_over_keeps_protected_files_and_their_hardlinks_with_the_host_user(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "mine.txt").write_text("x")
    (workspace / "evaluate.py").write_text("y")
    os.link(workspace / "evaluate.py", workspace / "sub" / "alias.py")
    (workspace / "sub" / "link").symlink_to("/etc/passwd")
    (workspace / ".sandbox").mkdir()
    (workspace / ".sandbox" / "protected.json").write_text("{}")
    hand_over_workspace(workspace, 4242, 4242, {"evaluate.py": "..."})
    assert (workspace / "sub" / "mine.txt").stat().st_uid == 4242 and workspace.stat().st_uid == 4242
    assert (workspace / "evaluate.py").stat().st_uid == 0 and (workspace / "sub" / "alias.py").stat().st_uid == 0
    assert (workspace / ".sandbox" / "protected.json").stat().st_uid == 0
    assert (workspace / "sub" / "link").lstat().st_uid == 4242 and Path("/etc/passwd").stat().st_uid == 0


# --- the CLI: the same path as the pipeline ---------------------------------------------------------------------


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    yield CliRunner()


@pytest.mark.parametrize("name", ISOLATED)
def test_cli_runs_a_script_and_prints_the_result_as_json(name: str, cli: CliRunner, tmp_path: Path) -> None:
    from scientist.audit.log import AuditLog
    from scientist.commands.sandbox import app

    require(name)
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\nopen('out/seen.txt', 'w').write('seen')\n")
    folder = tmp_path / "try"
    args = ["run", str(script), "--backend", name, "--template", "reward_misspec", "--workdir", str(folder)]
    result = cli.invoke(app, [*args, "--json", "--", "--seed", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["exit_code"] == 0 and report["stdout_tail"] == "args ['--seed', '3']\n"
    assert report["limits"]["wall_time_s"] == 60 and report["limits"]["memory_mb"] == 1024  # the template's
    # The audit record says where it ran (backend, image), under what (limits, command), how it ended and what it
    # produced (output and log hashes), so a number in a paper can be traced to it.
    records = [r for r in AuditLog(folder).records() if r.kind.startswith("sandbox_")]
    assert [r.kind for r in records] == ["sandbox_run_start", "sandbox_run"]  # isolated: no sandbox_unisolated
    payload = records[1].payload
    assert records[1].actor == f"sandbox:{name}" and payload["backend"] == name
    assert payload["image"] == report["image"] and payload["image"].startswith(("sha256:", "rootfs-sha256:"))
    assert payload["limits"] == report["limits"] and payload["command"] == ["python3", "hello.py", "--seed", "3"]
    assert payload["exit_code"] == 0 and payload["timed_out"] is False and payload["oom_killed"] is False
    assert payload["outputs"] == [{"path": "out/seen.txt", "size": 4, "sha256": hashlib.sha256(b"seen").hexdigest()}]
    assert not Path(payload["stdout_path"]).is_absolute()  # relative to the folder, as a run's audit log stores it
    stdout_log = (folder / payload["stdout_path"]).read_bytes()
    assert payload["stdout_sha256"] == hashlib.sha256(stdout_log).hexdigest() == report["stdout_sha256"]


@pytest.mark.parametrize("name", ISOLATED)
def test_cli_shows_and_audits_a_hidden_attempt_on_a_protected_file(name: str, cli: CliRunner, tmp_path: Path) -> None:
    """The script's attempt fails and it hides that; `sandbox run` still shows it, audits it and exits 1."""
    from scientist.audit.log import AuditLog
    from scientist.commands.sandbox import app

    require(name)
    script = tmp_path / "sneaky.py"
    script.write_text("try:\n    open('template.toml', 'a').write('wall_time_s = 9999')\nexcept OSError:\n    pass\n")
    folder = tmp_path / "try"
    args = ["run", str(script), "--backend", name, "--template", "reward_misspec", "--workdir", str(folder)]
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["exit_code"] == 0  # the script itself "succeeded"
    assert "monitor: critical protected_files/write_attempt" in result.stderr and "template.toml" in result.stderr
    (event,) = AuditLog(folder).find(kind="monitor_event")
    assert event.payload["rule"] == "write_attempt" and event.payload["location"] == "sandbox run"
    assert (folder / "workspace" / "template.toml").read_text().find("9999") == -1


def test_cli_unsafe_subprocess_run_is_audited_as_unisolated(cli: CliRunner, tmp_path: Path) -> None:
    from scientist.audit.log import AuditLog
    from scientist.commands.sandbox import app

    script = tmp_path / "hello.py"
    script.write_text("print('hi')\n")
    folder = tmp_path / "try"
    result = cli.invoke(app, ["run", str(script), "--backend", "unsafe-subprocess", "--workdir", str(folder)])
    assert result.exit_code == 0, result.output
    kinds = [r.kind for r in AuditLog(folder).records()]
    assert kinds == ["sandbox_unisolated", "sandbox_run_start", "sandbox_run"]


def test_cli_workdir_template_files_are_the_scripts_workspace(cli: CliRunner, tmp_path: Path) -> None:
    """The --workdir help's promise: without --template, DIR/template's files sit beside the script (corpus authors
    run a materialised template this way), and a reused workdir is one clear error, not a traceback."""
    from scientist.commands.sandbox import app
    from tests.conftest import run_cli

    script = tmp_path / "reader.py"
    script.write_text("print(open('data/settings.txt').read().strip())\n")
    folder = tmp_path / "try"
    (folder / "template" / "data").mkdir(parents=True)
    (folder / "template" / "data" / "settings.txt").write_text("alpha=0.5\n")
    result = cli.invoke(app, ["run", str(script), "--backend", "unsafe-subprocess", "--workdir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "alpha=0.5" in result.output
    again = run_cli("sandbox", "run", str(script), "--backend", "unsafe-subprocess", "--workdir", str(folder))
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_cli_with_docker_down_names_the_fix_or_takes_the_configured_fallback(tmp_path: Path) -> None:
    from scientist.audit.log import AuditLog
    from tests.conftest import run_cli

    require("local")
    script = tmp_path / "hello.py"
    script.write_text("print('hi')\n")
    down = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "SCIENTIST_SANDBOX": "docker"}
    failed = run_cli("sandbox", "run", str(script), "--workdir", str(tmp_path / "a"), env=down)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "Docker engine is not reachable" in failed.stderr and "dockerd" in failed.stderr
    assert "--sandbox local" in failed.stderr

    folder = tmp_path / "b"
    fallback = {**down, "SCIENTIST_SANDBOX_FALLBACK": "local"}
    done = run_cli("sandbox", "run", str(script), "--workdir", str(folder), "--json", env=fallback)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "local" and "using local" in done.stderr
    records = AuditLog(folder).records()
    assert records[0].kind == "sandbox_fallback" and records[0].payload["requested"] == "docker"
    assert "not reachable" in records[0].payload["reason"]


def test_cli_refuses_to_overwrite_a_protected_file(cli: CliRunner, tmp_path: Path) -> None:
    from scientist.commands.sandbox import app

    script = tmp_path / "evaluate.py"  # reward_misspec's harness-owned evaluator (contract v2)
    script.write_text("print('mine')\n")
    result = cli.invoke(app, ["run", str(script), "--backend", "local", "--template", "reward_misspec"])
    assert result.exit_code != 0 and "protected" in str(result.exception)


@pytest.mark.docker
def test_the_build_is_cached_once_per_machine(cli: CliRunner) -> None:
    from scientist.commands.sandbox import app

    require("docker")
    require("local")
    result = cli.invoke(app, ["build"])
    assert result.exit_code == 0, result.output
    assert "already built" in result.output
    status = cli.invoke(app, ["status", "--json"])
    assert json.loads(status.stdout)["image_id"].startswith("sha256:")
