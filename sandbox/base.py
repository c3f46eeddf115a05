"""What every sandbox backend shares: the `Sandbox` protocol, its limits and result models, and the workspace
bookkeeping (template copy, protected-file manifest, output hashing) that does not depend on how a run is isolated.

A backend only decides *how* the command runs (host subprocess, Docker, bubblewrap); *what* counts as an output or
a protected-file violation is decided here, so every backend reports the same thing for the same run.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from scientist.errors import SandboxError

MANIFEST_DIR = ".sandbox"
PROTECTED_MANIFEST = f"{MANIFEST_DIR}/protected.json"
TAIL_BYTES = 8 * 1024
_MIB = 1024 * 1024

PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]


class Limits(BaseModel):
    """Resource limits for one run, enforced from outside the experiment (it cannot edit them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_time_s: PositiveSeconds = Field(120.0, description="Kill the whole run after this many seconds")
    memory_mb: PositiveInt = Field(2048, description="Memory cap (address space for the local backend)")
    cpu_time_s: PositiveInt | None = Field(None, description="CPU seconds; None means wall_time_s rounded up + 5")
    max_processes: PositiveInt = Field(256, description="Processes/threads the run may add (best effort locally)")
    max_file_mb: PositiveInt = Field(200, description="No single file (logs included) may grow past this")
    max_output_mb: PositiveInt = Field(500, description="Total bytes the run may write into the workspace")

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

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed


@runtime_checkable
class Sandbox(Protocol):
    """A place to run untrusted experiment code with limits enforced from outside.

    Lifecycle: `prepare` a fresh workspace from a template once, `run` commands in it (each run re-checks the
    protected files and hashes its outputs), and `cleanup` to kill anything the runs left behind (also safe to
    call after a crash, from another process).
    """

    backend: str

    def prepare(self, template_dir: Path, workspace: Path, protected: Sequence[str]) -> None: ...

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


def prepare_workspace(template_dir: Path, workspace: Path, protected: Sequence[str]) -> dict[str, str]:
    """Copy the template into an empty workspace, make protected files read-only and record their sha256.

    A protected entry may name a folder: every file under it is protected. Returns the manifest written to
    `workspace/.sandbox/protected.json` (workspace-relative path -> sha256).
    """
    template_dir = Path(template_dir)
    if not template_dir.is_dir():
        raise SandboxError(f"template folder {template_dir} does not exist", hint="check the template's path")
    if workspace.exists() and (not workspace.is_dir() or any(workspace.iterdir())):
        raise SandboxError(
            f"workspace {workspace} already exists and is not empty",
            hint="use a fresh folder, or delete the old workspace first",
        )
    entries = [relative_path(entry, "protected file") for entry in protected]
    missing = [entry for entry in entries if not (template_dir / entry).exists()]
    if missing:
        raise SandboxError(
            f"protected files missing from template {template_dir.name}: {', '.join(missing)}",
            hint="fix the template's list of protected files",
        )
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", MANIFEST_DIR)
    shutil.copytree(template_dir, workspace, ignore=ignore, dirs_exist_ok=True)

    manifest: dict[str, str] = {}
    for entry in entries:
        target = workspace / entry
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        for file in files:
            file.chmod(0o444)
            manifest[file.relative_to(workspace).as_posix()] = sha256_file(file)
    manifest_path = workspace / PROTECTED_MANIFEST
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps({"files": manifest}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    manifest_path.chmod(0o444)
    return manifest


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
    """Size and mtime of every regular file under the workspace (symlinks are not followed)."""
    files: Snapshot = {}
    for root, _dirs, names in os.walk(workspace):
        for name in names:
            path = Path(root, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                files[path.relative_to(workspace).as_posix()] = (info.st_size, info.st_mtime_ns)
    return files


def written_files(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """Files created or modified between two snapshots, with their sizes."""
    return {rel: size for rel, (size, mtime) in after.items() if before.get(rel) != (size, mtime)}


def hash_outputs(workspace: Path, written: Mapping[str, int], out_dir: str) -> list[OutputFile]:
    """Hash the written files under `out_dir`. A file the run made unreadable is left out (it is no result)."""
    prefix = out_dir.rstrip("/") + "/"
    outputs = []
    for rel in sorted(written):
        if rel.startswith(prefix):
            path = workspace / rel
            try:
                outputs.append(OutputFile(path=rel, size=path.stat().st_size, sha256=sha256_file(path)))
            except OSError:
                continue
    return outputs


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a log, decoded leniently (logs are never held whole in memory)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - limit))
        return handle.read().decode("utf-8", errors="replace")


# Backends by name, imported lazily so choosing `local` never pays for the Docker SDK.
BACKENDS: dict[str, str] = {"local": "scientist.sandbox.local:LocalSandbox"}


def get_sandbox(name: str) -> Sandbox:
    """The sandbox backend called `name`; an unknown name is a user error that lists the choices."""
    target = BACKENDS.get(name)
    if target is None:
        raise SandboxError(f"unknown sandbox backend {name!r}", hint=f"choose one of: {', '.join(sorted(BACKENDS))}")
    module_name, _, class_name = target.partition(":")
    backend: Sandbox = getattr(importlib.import_module(module_name), class_name)()
    return backend
