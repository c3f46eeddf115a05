"""`scientist sandbox ...`: build the sandbox image, check it, run a script the way the pipeline runs experiments,
and remove containers a crashed run left behind.

`run` goes through the same `get_sandbox(...).prepare(...)` / `.run(...)` path as the experiment stage, with the
template's limits (read from the bundled template, never from the workspace), and writes an audit record.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from scientist.audit import events as audit_events
from scientist.errors import ExitCode, ScientistError

app = typer.Typer(help="Build, check and try the experiment sandbox.", no_args_is_help=True)

OUT_DIR = "out"
Backend = str  # docker | local | unsafe-subprocess, or a plugin's (scientist.registry): checked when opened
Target = Literal["all", "docker", "rootfs"]
Source = Literal["debian", "registry"]


class SandboxCommandError(ScientistError):
    """`scientist sandbox` was given something it cannot use (a protected file name, a missing script)."""


def _echo(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def build(
    target: Annotated[
        Target,
        typer.Option(help="docker: the image; rootfs: the local backend's root; all: whatever this machine can use"),
    ] = "all",
    source: Annotated[
        Source, typer.Option("--from", help="debian: offline via mmdebstrap; registry: Dockerfile.registry")
    ] = "debian",
    force: Annotated[bool, typer.Option(help="Rebuild even if the image exists")] = False,
) -> None:
    """Build the sandbox image once per machine (Docker image and/or the local backend's root filesystem)."""
    from scientist.sandbox import images

    current = images.status()
    docker = target == "docker" or (target == "all" and current.docker_error is None)
    rootfs = target == "rootfs" or (target == "all" and current.bwrap is not None and source == "debian")
    if target == "all" and not (docker or rootfs):
        raise SandboxCommandError(
            "neither Docker nor bubblewrap is available, so there is nothing to build for",
            hint=f"{current.docker_error or 'install docker.io'}; or apt-get install bubblewrap",
        )
    result = images.build(docker=docker, rootfs=rootfs, source=source, force=force, echo=_echo)
    _echo(_describe(result))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Say whether the Docker image and the local (bubblewrap) root filesystem exist on this machine."""
    from scientist.sandbox import images

    result = images.status()
    typer.echo(result.model_dump_json(indent=2) if as_json else _describe(result))


def _describe(status: Any) -> str:
    docker = status.image_id or f"missing ({status.docker_error or 'not built: scientist sandbox build'})"
    rootfs = status.rootfs or f"missing ({status.rootfs_path})"
    return f"docker image {status.image}: {docker}\nlocal (bubblewrap) root filesystem: {rootfs}"


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(help="Python script to run; extra arguments are passed to it")],
    backend: Annotated[
        Backend | None,
        typer.Option(
            "--backend",
            "--sandbox",
            help="Sandbox backend: docker, local, unsafe-subprocess or a plugin's (default: the configured one)",
        ),
    ] = None,
    template: Annotated[
        str | None, typer.Option(help="Run inside this template's workspace, with its limits and protected files")
    ] = None,
    wall_time: Annotated[float | None, typer.Option(help="Wall-time limit, seconds (default: the template's)")] = None,
    memory: Annotated[int | None, typer.Option(help="Memory limit in MB (default: the template's)")] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the workspace, logs and audit log (default: a new temp folder); without --template, the"
            " files under DIR/template are copied into the workspace beside SCRIPT (a template's own folder otherwise)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the RunResult as JSON")] = False,
) -> None:
    """Run SCRIPT in the sandbox, exactly as the pipeline runs experiments, and report what happened."""
    from scientist.audit.log import AuditLog
    from scientist.config import load_settings
    from scientist.runs import run_relative_logs
    from scientist.sandbox import Limits, copy_in, open_sandbox, record_choice

    if not script.is_file():
        raise SandboxCommandError(f"no script at {script}", hint="give the path of a Python file")
    settings = load_settings()
    name, fallback = (backend, None) if backend else (settings.sandbox, settings.sandbox_fallback)
    limits_kwargs: dict[str, Any] = {}
    protected: list[str] = []
    vendored: dict[str, Path] = {}
    source: Path | None = None
    loaded: Any = None
    if template is not None:
        from scientist.template import load_template

        loaded = load_template(template)
        source, protected, vendored = loaded.path, list(loaded.protected), loaded.vendored()
        limits_kwargs = {"wall_time_s": loaded.limits.wall_time_s, "memory_mb": loaded.limits.memory_mb}
        if script.name in loaded.harness_owned():
            raise SandboxCommandError(
                f"{script.name} would replace template {loaded.name}'s protected {script.name}",
                hint="rename the script",
            )
    if wall_time is not None:
        limits_kwargs["wall_time_s"] = wall_time
    if memory is not None:
        limits_kwargs["memory_mb"] = memory
    limits = Limits(**limits_kwargs)

    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="scientist-sandbox-"))
    folder.mkdir(parents=True, exist_ok=True)
    if source is None:
        source = folder / "template"
        source.mkdir(exist_ok=True)
    choice = open_sandbox(name, fallback=fallback, run_label=f"cli-{folder.name}")
    sandbox = choice.sandbox
    workspace = folder / "workspace"
    sandbox.prepare(source, workspace, protected, vendored)
    copy_in(workspace, {script.name: script})
    command = ["python", script.name, *ctx.args]
    audit = AuditLog(folder)
    record_choice(audit, choice)
    audit.emit(
        audit_events.SandboxRunStart(command=command, limits=limits.model_dump()),
        f"sandbox:{sandbox.backend}",
    )
    try:
        result = sandbox.run(workspace, command, limits, out_dir=OUT_DIR, log_dir=folder / "logs")
    finally:
        sandbox.cleanup(workspace)
    # Log paths relative to the folder, as a run's audit log stores them: the folder can be moved or shared
    record = run_relative_logs(folder, result.audit_payload())
    audit.emit(audit_events.SandboxRun(**record), f"sandbox:{sandbox.backend}")
    events = _monitor(audit, result, workspace, loaded)
    from scientist.display import clean

    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        cause = "ok" if result.ok else _cause(result)
        typer.echo(f"{cause}: exit {result.exit_code}, signal {result.signal}, {result.wall_time_s:.2f} s wall")
        typer.echo(clean(result.stdout_tail), nl=False)  # the run's own bytes: no escape sequence reaches the tty
        if result.stderr_tail:
            _echo(clean(result.stderr_tail.rstrip("\n")))
    for event in events:  # on stderr, so --json output stays the RunResult alone
        _echo(clean(f"monitor: {event.severity} {event.monitor}/{event.rule}: {event.evidence}"))
    if not as_json:
        _echo(f"workspace, logs and audit log: {folder}")
    serious = any(event.at_least("high") for event in events)
    raise typer.Exit(ExitCode.OK if result.ok and not serious else ExitCode.FAILED)


def _monitor(audit: Any, result: Any, workspace: Path, template: Any) -> list[Any]:
    """The pipeline's dynamic checks on this run, recorded in its audit log: with --template, all of them (its
    protected files, logs, outputs); without, the sandbox's trace of attempts on protected files."""
    from scientist.monitors.dynamic import protected_attempt_events, run_stderr, scan_sandbox_result
    from scientist.monitors.policy import record_events

    if template is not None:
        events = scan_sandbox_result(result, template, workspace=workspace, location="sandbox run")
    else:
        events = protected_attempt_events(run_stderr(result), "sandbox run")
    record_events(audit, events)
    return events


def _cause(result: Any) -> str:
    for flag, text in (
        ("timed_out", "timed out"),
        ("oom_killed", "out of memory"),
        ("output_limit_exceeded", "output limit exceeded"),
    ):
        if getattr(result, flag):
            return text
    return "failed"


@app.command()
def cleanup(
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's containers")] = None,
) -> None:
    """Remove sandbox containers left behind by crashed runs (all of them, or one run's)."""
    from scientist.sandbox import images
    from scientist.sandbox.docker import RUN_LABEL, remove_containers

    client = images.connect()
    try:
        removed = remove_containers(client, {RUN_LABEL: run_id} if run_id else None)
    finally:
        client.close()
    typer.echo(f"removed {removed} container(s)")
