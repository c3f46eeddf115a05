"""What every sandbox backend shares: the `Sandbox` protocol, its limits and result models, and the workspace
bookkeeping (template copy, protected-file manifest, output hashing) that does not depend on how a run is isolated.

A backend only decides *how* the command runs (host subprocess, Docker, bubblewrap); *what* counts as an output or
a protected-file violation is decided here, so every backend reports the same thing for the same run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from scientist.audit.events import AuditEvent, SandboxFallback, SandboxUnisolated
from scientist.errors import SandboxError
from scientist.registry import Registry
from scientist.sandbox import reader
from scientist.sandbox.numerics import host_cpu_flags, pinned_numerics_env

if TYPE_CHECKING:
    from scientist.template import Template

MANIFEST_DIR = ".sandbox"
PROTECTED_MANIFEST = f"{MANIFEST_DIR}/protected.json"
# sandbox/write_trace.py, copied here by prepare_workspace; the sandbox puts this folder on PYTHONPATH.
WRITE_TRACE_DIR = f"{MANIFEST_DIR}/trace"
TAIL_BYTES = 8 * 1024
_MIB = 1024 * 1024

# Where the isolated backends (Docker, bubblewrap) mount the workspace; the image's WORKDIR.
SANDBOX_WORKDIR = "/work/run"
# Numeric libraries start one thread per core unless told otherwise; one run should use one core.
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# Set by the operator for CPUs OpenBLAS misdetects; without them numpy can crash, so they must pass through.
PASSTHROUGH_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
PYTHON_NAMES = ("python", "python3")
OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")

PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]


class Limits(BaseModel):
    """Resource limits for one run, enforced from outside the experiment (it cannot edit them).

    Defaults are passed as `default=` so type checkers see them (a positional default reads as required)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_time_s: PositiveSeconds = Field(default=120.0, description="Kill the whole run after this many seconds")
    memory_mb: PositiveInt = Field(
        default=2048, description="Memory cap (a memory cgroup where one can be made, else address space)"
    )
    cpu_time_s: PositiveInt | None = Field(
        default=None, description="CPU seconds; None means wall_time_s rounded up + 5"
    )
    max_processes: PositiveInt = Field(
        default=256, description="Processes/threads the run may add (best effort outside Docker)"
    )
    max_file_mb: PositiveInt = Field(default=200, description="No single file (logs included) may grow past this")
    max_output_mb: PositiveInt = Field(default=500, description="Total bytes the run may write into the workspace")
    cpus: Annotated[float, Field(gt=0, le=64, allow_inf_nan=False)] = Field(
        default=1.0, description="CPU cores the run may use at once (a CFS quota in Docker; not enforced by the others)"
    )
    tmp_mb: PositiveInt = Field(default=64, description="Size of the private in-memory /tmp (Docker and bubblewrap)")

    @classmethod
    def for_template(cls, template: Template) -> Limits:
        """The limits every run of `template`'s code gets (its template.toml [limits]): the agent's experiment runs
        and the evaluator's runs alike, so both are held to the same budget by one definition."""
        return cls(wall_time_s=template.limits.wall_time_s, memory_mb=template.limits.memory_mb)

    @property
    def effective_cpu_time_s(self) -> int:
        """CPU limit actually applied: a little above the wall time, so the wall clock normally fires first."""
        return self.cpu_time_s if self.cpu_time_s is not None else math.ceil(self.wall_time_s) + 5

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * _MIB

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * _MIB

    @property
    def max_output_bytes(self) -> int:
        return self.max_output_mb * _MIB


class OutputFile(BaseModel):
    """A file the run created or modified under its out dir; `path` is workspace-relative, posix style."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    sha256: str


class RunResult(BaseModel):
    """What happened in one sandbox run. Numbers in a paper must trace back to one of these (and its logs)."""

    model_config = ConfigDict(frozen=True)

    backend: str
    command: list[str]
    exit_code: int | None = Field(description="None when the process was killed by a signal")
    signal: int | None = Field(description="Number of the signal that killed the process, if any")
    timed_out: bool
    oom_killed: bool
    output_limit_exceeded: bool
    wall_time_s: float
    cpu_time_s: float
    peak_memory_mb: float
    stdout_tail: str
    stderr_tail: str
    stdout_path: str
    stderr_path: str
    outputs: list[OutputFile]
    protected_violations: list[str] = Field(description="Protected files whose content changed or that were removed")
    image: str | None = Field(None, description="Identity of the root filesystem the run saw (Docker image id)")
    limits: Limits | None = Field(None, description="The limits the run was held to")
    escaping_symlinks: list[str] = Field(
        default_factory=list,
        description="Symlinks the run left that point outside the workspace; removed so host-side readers of the "
        "outputs cannot be redirected to host files",
    )
    removed_paths: list[str] = Field(
        default_factory=list,
        description="What the harness removed after the run: FIFOs, sockets, devices, and whatever lay past the "
        "workspace's depth or entry budget (see scientist.sandbox.reader.settle_workspace)",
    )
    workspace_over_budget: str | None = Field(
        None, description="Why the workspace broke the reader's depth/entry budget (counts as over the output cap)"
    )
    stdout_sha256: str | None = Field(None, description="sha256 of the whole stdout log, as the run left it")
    stderr_sha256: str | None = Field(None, description="sha256 of the whole stderr log, as the run left it")

    @property
    def ok(self) -> bool:
        """Exited 0 within every limit, protected files intact: a run that wrote past its output cap or touched its
        evaluator is not a result to trust."""
        return self.exit_code == 0 and not (
            self.timed_out or self.oom_killed or self.output_limit_exceeded or self.protected_violations
        )

    def audit_payload(self, stderr_chars: int = 2000) -> dict[str, Any]:
        """What an audit record of this run keeps: backend, image, limits, command, outcome, output and log hashes;
        everything but the stdout tail, and only the end of stderr."""
        payload = self.model_dump(mode="json", exclude={"stdout_tail", "stderr_tail"})
        payload["stderr_tail"] = self.stderr_tail[-stderr_chars:]
        return payload


@runtime_checkable
class Sandbox(Protocol):
    """A place to run untrusted experiment code with limits enforced from outside.

    Lifecycle: `prepare` a fresh workspace from a template once, `run` commands in it (each run re-checks the
    protected files and hashes its outputs), and `cleanup` to kill anything the runs left behind (also safe to
    call after a crash, from another process).
    """

    backend: str

    def prepare(
        self,
        template_dir: Path,
        workspace: Path,
        protected: Sequence[str],
        vendored: Mapping[str, Path] | None = None,
    ) -> None: ...

    def run(
        self,
        workspace: Path,
        command: Sequence[str],
        limits: Limits,
        *,
        out_dir: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ) -> RunResult: ...

    def cleanup(self, workspace: Path) -> None: ...


# --- workspace bookkeeping shared by the backends -------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def relative_path(value: str, what: str) -> str:
    """A workspace-relative posix path that cannot escape the workspace (no absolute paths, no `..`)."""
    path = PurePosixPath(value.replace(os.sep, "/"))
    if not value or path.is_absolute() or ".." in path.parts or str(path) == ".":
        raise SandboxError(f"{what} {value!r} is not a path inside the workspace", hint="use a relative path")
    return str(path)


class WorkspacePreparer:
    """`Sandbox.prepare` as the bundled backends share it (`prepare_workspace`); a backend inherits it."""

    def prepare(
        self,
        template_dir: Path,
        workspace: Path,
        protected: Sequence[str],
        vendored: Mapping[str, Path] | None = None,
    ) -> None:
        prepare_workspace(Path(template_dir), Path(workspace), protected, vendored)


def prepare_workspace(
    template_dir: Path, workspace: Path, protected: Sequence[str], vendored: Mapping[str, Path] | None = None
) -> dict[str, str]:
    """Copy the template into an empty workspace, make protected files read-only and record their sha256.

    A protected entry may name a folder: every file under it is protected. `vendored` (workspace name -> source
    file) is shared code the template runs but does not hold (`Template.vendor`): copied in beside the template's
    files and protected like them. Returns the manifest written to `workspace/.sandbox/protected.json`
    (workspace-relative path -> sha256).
    """
    template_dir = Path(template_dir)
    if not template_dir.is_dir():
        raise SandboxError(f"template folder {template_dir} does not exist", hint="check the template's path")
    if workspace.exists() and (not workspace.is_dir() or any(workspace.iterdir())):
        raise SandboxError(
            f"workspace {workspace} already exists and is not empty",
            hint="use a fresh folder, or delete the old workspace first",
        )
    vendored = {relative_path(name, "vendored file"): Path(source) for name, source in (vendored or {}).items()}
    clash = sorted(name for name in vendored if (template_dir / name).exists())
    if clash:
        raise SandboxError(
            f"template {template_dir.name} holds its own {', '.join(clash)}, which is vendored",
            hint="delete the template's copy: the shared file is copied in",
        )
    absent = sorted(name for name, source in vendored.items() if not source.is_file())
    if absent:
        raise SandboxError(f"vendored files missing: {', '.join(absent)}", hint="reinstall scientist")
    entries = [relative_path(entry, "protected file") for entry in protected]
    missing = [entry for entry in entries if not (template_dir / entry).exists()]
    if missing:
        raise SandboxError(
            f"protected files missing from template {template_dir.name}: {', '.join(missing)}",
            hint="fix the template's list of protected files",
        )
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", MANIFEST_DIR)
    shutil.copytree(template_dir, workspace, ignore=ignore, dirs_exist_ok=True)
    for name, source in vendored.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, workspace / name)
    entries += [name for name in vendored if name not in entries]

    manifest: dict[str, str] = {}
    for entry in entries:
        target = workspace / entry
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        for file in files:
            file.chmod(0o444)
            manifest[file.relative_to(workspace).as_posix()] = sha256_file(file)
    manifest_path = workspace / PROTECTED_MANIFEST
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"files": manifest, "entries": sorted(entries)}, indent=2, sort_keys=True) + "\n"
    manifest_path.write_text(text, encoding="utf-8")
    manifest_path.chmod(0o444)
    trace = workspace / WRITE_TRACE_DIR / "sitecustomize.py"  # reports attempts on protected files (its docstring)
    trace.parent.mkdir()
    shutil.copyfile(Path(__file__).with_name("write_trace.py"), trace)
    trace.chmod(0o444)
    return manifest


def copy_in(workspace: Path, files: Mapping[str, Path | bytes]) -> list[str]:
    """Put files into a prepared workspace between runs (workspace-relative name -> host file or bytes).

    The harness's own door into the workspace, so it refuses what a run could not do either: a path outside
    the workspace (`..`, absolute, or through a symlink the last run left), a protected file or anything inside a
    protected folder or `.sandbox/`. Returns the names written."""
    manifest = load_manifest(workspace)  # a prepared workspace, or a clear error
    guarded = protected_entries(manifest, (workspace / PROTECTED_MANIFEST).read_bytes())
    root = workspace.resolve()
    written = []
    for name, content in files.items():
        rel = relative_path(name, "file to copy in")
        hit = next((entry for entry in guarded if rel == entry or rel.startswith(entry + "/")), None)
        if hit is not None:
            raise SandboxError(f"{rel} is protected ({hit}) in {workspace}", hint="copy it under another name")
        target = workspace / rel
        if not target.parent.resolve().is_relative_to(root) or target.is_symlink():
            raise SandboxError(f"{rel} would leave workspace {workspace} through a symlink", hint="use a plain path")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else Path(content).read_bytes()
        target.write_bytes(data)
        written.append(rel)
    return written


def load_manifest(workspace: Path) -> dict[str, str]:
    """The protected-file hashes `prepare` recorded; read *before* a run so the run cannot forge them."""
    path = workspace / PROTECTED_MANIFEST
    if not path.is_file():
        raise SandboxError(
            f"workspace {workspace} was not prepared (no {PROTECTED_MANIFEST})",
            hint="call prepare() on a fresh workspace before run()",
        )
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as err:
        raise SandboxError(f"{path} is corrupt: {err}", hint="prepare a fresh workspace") from err
    return {str(key): str(value) for key, value in files.items()}


def protected_entries(manifest: Mapping[str, str], manifest_text: bytes) -> list[str]:
    """What the isolated backends mount read-only: the template's protected entries (a protected folder is mounted
    whole, so nothing can be added to it either) plus the manifest's whole folder (a mount point cannot be
    renamed, so the run cannot move the manifest aside either). Older manifests list files only."""
    try:
        entries = json.loads(manifest_text).get("entries")
    except (ValueError, AttributeError):
        entries = None
    chosen = [relative_path(str(entry), "protected file") for entry in entries] if entries else sorted(manifest)
    return [*chosen, MANIFEST_DIR]


def pinned_folders(protected: Sequence[str]) -> list[str]:
    """Unprotected folders that hold a protected entry, outermost first. The isolated backends bind-mount each onto
    itself, writable: a mount point cannot be renamed or removed (EBUSY), so the run cannot move `src/` aside with
    the protected `src/evaluate.py` inside and put a fake `src/evaluate.py` in its place (the hash check would
    catch it afterwards; this prevents it). Files in those folders stay writable as before."""
    covered = set(protected)
    folders: list[str] = []
    for rel in protected:
        parts = PurePosixPath(rel).parts
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in covered:  # inside a protected folder, which is mounted read-only whole
                break
            if folder not in folders:
                folders.append(folder)
    return sorted(folders, key=lambda folder: folder.count("/"))


def protected_violations(workspace: Path, manifest: Mapping[str, str], manifest_text: bytes | None) -> list[str]:
    """Protected files removed, replaced by something that is not a regular file, or whose content changed.

    `manifest_text` is the manifest file's bytes before the run: if the run rewrote the manifest itself, that is a
    violation too (the comparison always uses the pre-run copy, so forging hashes gains nothing).
    """
    violations = []
    for rel, digest in sorted(manifest.items()):
        path = workspace / rel
        try:
            changed = not stat.S_ISREG(path.lstat().st_mode) or sha256_file(path) != digest
        except OSError:  # removed, or made unreadable
            changed = True
        if changed:
            violations.append(rel)
    try:
        current: bytes | None = (workspace / PROTECTED_MANIFEST).read_bytes()
    except OSError:
        current = None
    if manifest_text is not None and current != manifest_text:
        violations.append(PROTECTED_MANIFEST)
    return violations


Snapshot = dict[str, tuple[int, int]]


def snapshot(workspace: Path) -> Snapshot:
    """Size and mtime of every regular file under the workspace (no link followed; within the reader's budgets)."""
    return {
        entry.rel: (entry.size, entry.mtime_ns) for entry in reader.walk(workspace).entries if stat.S_ISREG(entry.mode)
    }


def disk_usage(workspace: Path) -> tuple[int, str | None]:
    """du-style bytes under the workspace (every file, folder, link and hidden path costs its blocks), and why the
    walk stopped early when the tree broke the reader's depth or entry budget."""
    tree = reader.walk(workspace)
    return tree.disk_bytes, tree.over_budget


def written_files(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """Files created or modified between two snapshots, with their sizes."""
    return {rel: size for rel, (size, mtime) in after.items() if before.get(rel) != (size, mtime)}


def hash_outputs(workspace: Path, written: Mapping[str, int], out_dir: str) -> list[OutputFile]:
    """Hash the written regular files under `out_dir` (opened without following links). A file the run made
    unreadable is left out (it is no result). Names that are not UTF-8 are reported backslash-escaped."""
    prefix = out_dir.rstrip("/") + "/"
    outputs = []
    for rel in sorted(written):
        if rel.startswith(prefix):
            try:
                size, digest = reader.hash_file(workspace, rel)
            except (OSError, reader.RunOutputError):
                continue
            outputs.append(OutputFile(path=reader.display_name(rel), size=size, sha256=digest))
    return outputs


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a log, decoded leniently (logs are never held whole in memory)."""
    return reader.log_tail(path, limit)


def output_bytes(workspace: Path, before: Snapshot, before_disk: int = 0) -> int:
    """What `max_output_mb` caps, polled during a run: the larger of the bytes in files the run created or changed
    and the growth of the workspace's disk usage (so empty folders, links and hidden files count too). A tree
    past the reader's depth or entry budget counts as over any cap."""
    tree = reader.walk(workspace)
    if tree.over_budget:
        return 1 << 62
    written = {entry.rel: (entry.size, entry.mtime_ns) for entry in tree.entries if stat.S_ISREG(entry.mode)}
    return max(sum(written_files(before, written).values()), tree.disk_bytes - before_disk)


def remove_escaping_symlinks(workspace: Path) -> list[str]:
    """Delete symlinks under the workspace that point outside it (or anywhere absolute) and list them.

    Inside the sandbox such a link only reaches the sandbox's own root, but the host reads the outputs later:
    `out/final_info.json -> /home/user/.ssh/id_rsa` would otherwise feed a host secret into the paper.
    (`finish_run` does this and more through `reader.settle_workspace`.)
    """
    return [reader.display_name(rel) for rel in reader.settle_workspace(workspace).escaping_symlinks]


def hand_over_workspace(workspace: Path, uid: int, gid: int, manifest: Mapping[str, str]) -> None:
    """Make the workspace writable for the sandbox user without giving it the protected files.

    Run folders are created by the host user (often root) while the sandbox runs as another uid: everything but
    the protected files and the manifest is chowned to that uid (symlinks themselves, never their targets).
    Protected files stay owned by the host user and read-only, and are mounted read-only on top as well.
    """
    if os.geteuid() != 0 or (uid, gid) == (os.geteuid(), os.getegid()):
        return
    keep = {(workspace / rel) for rel in [*manifest, PROTECTED_MANIFEST]}
    keep_inodes = set()
    for path in keep:
        with contextlib.suppress(OSError):
            info = path.lstat()
            keep_inodes.add((info.st_dev, info.st_ino))
    for path in [workspace, *(workspace / entry.rel for entry in reader.walk(workspace).entries)]:
        if path in keep:
            continue
        with contextlib.suppress(OSError):
            info = path.lstat()
            if (info.st_dev, info.st_ino) in keep_inodes or (info.st_uid, info.st_gid) == (uid, gid):
                continue
            os.chown(path, uid, gid, follow_symlinks=False)


def container_env(home: str, marker: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The environment inside an isolated sandbox: an allow-list, nothing from the parent (no API keys)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.cache/matplotlib",  # font cache kept across runs of a workspace
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # so the log tail is current even when the run is killed
        "PYTHONPATH": f"{home}/{WRITE_TRACE_DIR}",  # home is the workspace: its protected-file trace (write_trace.py)
        **dict.fromkeys(THREAD_VARS, "1"),
        **pinned_numerics_env(host_cpu_flags(), os.environ),  # the same numbers on every x86-64 machine
        **{name: os.environ[name] for name in PASSTHROUGH_VARS if name in os.environ},
        **(extra or {}),
    }
    if marker is not None:
        env["SCIENTIST_SANDBOX_ID"] = marker
    return env


def container_command(command: Sequence[str]) -> list[str]:
    """argv for an isolated sandbox: `python` means the image's python3 (the host's interpreter is not there)."""
    if isinstance(command, str) or not command:
        raise SandboxError(f"sandbox command must be a non-empty list, got {command!r}", hint="pass argv as a list")
    argv = [str(part) for part in command]
    if argv[0] in PYTHON_NAMES:
        argv[0] = "python3"
    return argv


def looks_oom_killed(exit_code: int | None, sig: int | None, timed_out: bool, stderr_tail: str) -> bool:
    """Without a memory cgroup to ask: an allocation failure in the log (RLIMIT_AS), or a SIGKILL we did not send
    (the kernel's OOM killer)."""
    return exit_code != 0 and (
        any(text in stderr_tail for text in OOM_MARKERS) or (sig == signal.SIGKILL and not timed_out)
    )


def split_exit_status(code: int | None) -> tuple[int | None, int | None]:
    """(exit code, signal) from a container-style status, where death by signal N is reported as 128 + N."""
    if code is None:
        return None, None
    if 128 < code < 128 + 65:
        return None, code - 128
    return code, None


@dataclass
class RunPlan:
    """What every backend computes before it starts a run, and hands back to `finish_run` afterwards."""

    workspace: Path
    out_rel: str
    manifest: dict[str, str]
    manifest_text: bytes
    stdout_path: Path
    stderr_path: Path
    before: Snapshot
    before_disk: int = 0
    started: float = field(default_factory=time.monotonic)


def begin_run(workspace: Path, out_dir: str, log_dir: Path) -> RunPlan:
    """Validate the workspace, read the protected manifest *before* the run, create out/ and the log folder."""
    workspace = Path(workspace).resolve()
    if not workspace.is_dir():
        raise SandboxError(f"workspace {workspace} does not exist", hint="call prepare() before run()")
    out_rel = relative_path(out_dir, "out_dir")
    manifest = load_manifest(workspace)
    manifest_text = (workspace / PROTECTED_MANIFEST).read_bytes()
    (workspace / out_rel).mkdir(parents=True, exist_ok=True)
    (workspace / MANIFEST_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    return RunPlan(
        workspace=workspace,
        out_rel=out_rel,
        manifest=manifest,
        manifest_text=manifest_text,
        stdout_path=log_dir / "stdout.log",
        stderr_path=log_dir / "stderr.log",
        before=snapshot(workspace),
        before_disk=disk_usage(workspace)[0],
    )


def finish_run(
    plan: RunPlan,
    *,
    backend: str,
    command: list[str],
    limits: Limits,
    exit_code: int | None,
    sig: int | None,
    timed_out: bool,
    oom_killed: bool,
    output_limit_hit: bool,
    cpu_time_s: float,
    peak_memory_mb: float,
    image: str | None,
    wall_time_s: float | None = None,
) -> RunResult:
    """The `RunResult` every backend reports: outputs, protected-file check and caps are judged here, alike."""
    wall = wall_time_s if wall_time_s is not None else time.monotonic() - plan.started
    keep = [*plan.manifest, PROTECTED_MANIFEST, WRITE_TRACE_DIR]
    settled = reader.settle_workspace(plan.workspace, keep)
    after = {entry.rel: (entry.size, entry.mtime_ns) for entry in settled.tree.entries if stat.S_ISREG(entry.mode)}
    written = written_files(plan.before, after)
    disk_growth = settled.tree.disk_bytes - plan.before_disk
    logs_full = any(
        path.exists() and path.stat().st_size >= limits.max_file_bytes for path in (plan.stdout_path, plan.stderr_path)
    )
    return RunResult(
        backend=backend,
        command=command,
        exit_code=exit_code,
        signal=sig,
        timed_out=timed_out,
        oom_killed=oom_killed,
        output_limit_exceeded=output_limit_hit
        or logs_full
        or settled.over_budget is not None
        or max(sum(written.values()), disk_growth) > limits.max_output_bytes,
        wall_time_s=wall,
        cpu_time_s=cpu_time_s,
        peak_memory_mb=peak_memory_mb,
        stdout_tail=read_tail(plan.stdout_path),
        stderr_tail=read_tail(plan.stderr_path),
        stdout_path=str(plan.stdout_path),
        stderr_path=str(plan.stderr_path),
        outputs=hash_outputs(plan.workspace, written, plan.out_rel),
        protected_violations=protected_violations(plan.workspace, plan.manifest, plan.manifest_text),
        image=image,
        limits=limits,
        escaping_symlinks=[reader.display_name(rel) for rel in settled.escaping_symlinks],
        removed_paths=[reader.display_name(rel) for rel in [*settled.special_files, *settled.pruned]],
        workspace_over_budget=settled.over_budget,
        stdout_sha256=sha256_file(plan.stdout_path) if plan.stdout_path.is_file() else None,
        stderr_sha256=sha256_file(plan.stderr_path) if plan.stderr_path.is_file() else None,
    )


# Backends by name, imported lazily so choosing `local` never pays for the Docker SDK. `docker` and `local`
# (bubblewrap: namespaces + rlimits + the host's wall clock) isolate; `bwrap` is `local`'s older name, kept so
# recorded run configs still resume. `unsafe-subprocess` does not isolate: it exists only under that explicit
# name, logs a loud warning and is audited (`sandbox_unisolated`).
# Third-party backends register under the entry-point group `scientist.sandbox` (scientist.registry).
BACKENDS: Registry[Callable[..., Sandbox]] = Registry("sandbox", error=SandboxError, what="sandbox backend")
BACKENDS.add("docker", "scientist.sandbox.docker:DockerSandbox")
BACKENDS.add("local", "scientist.sandbox.bwrap:BwrapSandbox")
BACKENDS.add("bwrap", "scientist.sandbox.bwrap:BwrapSandbox", hidden=True)
BACKENDS.add("unsafe-subprocess", "scientist.sandbox.unsafe:UnsafeSubprocessSandbox")
CHOICES = ("docker", "local", "unsafe-subprocess")  # the project's own (`BACKENDS.names()` adds plugins)


class AuditSink(Protocol):
    """What `record_choice` needs of `scientist.audit.log.AuditLog`: its typed write (structural, so a caller may
    hand in any log; the sandbox sits above the audit's record models in the layers, below its users)."""

    def emit(self, event: AuditEvent, actor: str) -> Any: ...


@dataclass(frozen=True)
class SandboxChoice:
    """The backend a run got, and why it is not the one asked for (a configured fallback), if it is not."""

    sandbox: Sandbox
    requested: str
    fallback_reason: str | None = None


def open_sandbox(name: str, *, fallback: str | None = None, **options: Any) -> SandboxChoice:
    """Make backend `name`; with `fallback`, a backend that cannot start here (Docker engine down, image missing)
    is replaced by that one, with a warning (and `record_choice` writes it to the audit log); never silently."""
    make = BACKENDS.get(name)
    try:
        backend: Sandbox = make(**options)
    except SandboxError as err:
        if fallback is None or fallback == name:
            raise
        reason = str(err)
        logging.getLogger("scientist.sandbox").warning("sandbox %s unavailable (%s); using %s", name, reason, fallback)
        return SandboxChoice(open_sandbox(fallback, **options).sandbox, name, reason)
    return SandboxChoice(backend, name)


def get_sandbox(name: str, *, fallback: str | None = None, **options: Any) -> Sandbox:
    """The sandbox backend called `name`; an unknown name is a user error that lists the choices.

    `options` go to the backend's constructor; every backend accepts `run_label` (the run id: Docker labels its
    containers with it so a resumed or cleaned-up run can find leftovers). `fallback`: see `open_sandbox`.
    """
    return open_sandbox(name, fallback=fallback, **options).sandbox


def record_choice(audit: AuditSink, choice: SandboxChoice) -> None:
    """Make a weaker sandbox visible in the run's audit log: a fallback taken, and any run without isolation."""
    used = choice.sandbox.backend
    if choice.fallback_reason is not None:
        fallback = SandboxFallback(requested=choice.requested, used=used, reason=choice.fallback_reason)
        audit.emit(fallback, f"sandbox:{used}")
    if not getattr(choice.sandbox, "isolated", False):
        audit.emit(SandboxUnisolated(backend=used, requested=choice.requested), f"sandbox:{used}")
