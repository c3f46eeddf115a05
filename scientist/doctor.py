"""`scientist doctor` and the run preflight: check every tool a stage will need before the first model call."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from scientist.config import Settings
from scientist.errors import ScientistError

Status = Literal["ok", "warn", "fail"]


class Check(BaseModel):
    name: str
    status: Status
    detail: str
    fix: str = ""


def check_python() -> Check:
    """The interpreter running scientist (pyproject's requires-python already refuses < 3.11)."""
    version = ".".join(map(str, sys.version_info[:3]))
    return Check(name="python", status="ok", detail=version)


def check_model_runtime(settings: Settings) -> Check:
    from scientist.llm import LOCAL_PROVIDER, check_model, provider_of

    try:
        check_model(settings)
    except ScientistError as err:
        return Check(name="model", status="fail", detail=err.message, fix=err.hint or "")
    if provider_of(settings.model) == LOCAL_PROVIDER:
        from scientist.local_model import resolve

        return Check(name="model", status="ok", detail=f"{settings.model}: {resolve(settings.model)}")
    return Check(name="model", status="ok", detail=f"{settings.model}: provider known, key present")


def check_local_sandbox() -> Check:
    try:
        from scientist.sandbox import get_sandbox

        get_sandbox("local")
    except ScientistError as err:
        return Check(name="sandbox:local", status="fail", detail=err.message, fix=err.hint or "")
    return Check(
        name="sandbox:local",
        status="ok",
        detail="subprocess with rlimits and wall-time kill (not an isolation boundary)",
    )


def check_docker() -> Check:
    if shutil.which("docker") is None or importlib.util.find_spec("docker") is None:
        return Check(
            name="docker", status="warn", detail="not installed", fix="apt-get install docker.io, then start dockerd"
        )
    try:
        import docker

        client = docker.from_env(timeout=3)
        version = client.version().get("Version", "?")
        client.close()
    except Exception as err:
        return Check(
            name="docker",
            status="warn",
            detail=f"engine not reachable ({type(err).__name__})",
            fix="start it: `dockerd > /tmp/dockerd.log 2>&1 &` (or `systemctl start docker`)",
        )
    return Check(name="docker", status="ok", detail=f"engine {version}")


def check_bubblewrap() -> Check:
    if shutil.which("bwrap") is None:
        return Check(name="bubblewrap", status="warn", detail="not installed", fix="apt-get install bubblewrap")
    return Check(name="bubblewrap", status="ok", detail=str(shutil.which("bwrap")))


def check_latex() -> Check:
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        return Check(
            name="latex",
            status="warn",
            detail="pdflatex not found: papers are written as .tex and .md only",
            fix="apt-get install texlive-latex-recommended texlive-latex-extra",
        )
    return Check(name="latex", status="ok", detail=pdflatex)


def check_disk(path: Path, minimum_gb: float = 1.0) -> Check:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free_gb = shutil.disk_usage(existing.resolve()).free / 1e9
    if free_gb < minimum_gb:
        return Check(
            name="disk", status="fail", detail=f"{free_gb:.1f} GB free at {existing}", fix="free space or --runs-dir"
        )
    return Check(name="disk", status="ok", detail=f"{free_gb:.1f} GB free at {existing.resolve()}")


def run_checks(settings: Settings) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_python,
        lambda: check_model_runtime(settings),
        check_local_sandbox,
        check_docker,
        check_bubblewrap,
        check_latex,
        lambda: check_disk(settings.runs_dir),
    ]
    return [check() for check in checks]
