"""`scientist doctor` and the run preflight: check every tool a stage will need before the first model call."""

from __future__ import annotations

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


def check_sandboxes(settings: Settings) -> list[Check]:
    """Docker engine + image and the `local` backend (bwrap + its root filesystem); a failure only for the backend
    the config selects (`bwrap` is `local`'s older name)."""
    from scientist.sandbox.images import status

    current = status()
    build = "scientist sandbox build"

    def severity(backend: str) -> Status:
        chosen = "local" if settings.sandbox == "bwrap" else settings.sandbox
        return "fail" if chosen == backend and not settings.sandbox_fallback else "warn"

    if current.docker_error is not None:
        docker = Check(
            name="sandbox:docker",
            status=severity("docker"),
            detail=current.docker_error,
            fix="apt-get install docker.io; start `dockerd &`; or use --sandbox local",
        )
    elif current.image_id is None:
        docker = Check(name="sandbox:docker", status=severity("docker"), detail=f"no image {current.image}", fix=build)
    else:
        docker = Check(name="sandbox:docker", status="ok", detail=f"{current.image} ({current.image_id[:19]})")
    if current.bwrap is None:
        bwrap = Check(
            name="sandbox:local",
            status=severity("local"),
            detail="bubblewrap (bwrap) not installed",
            fix="apt-get install bubblewrap",
        )
    elif current.rootfs is None:
        bwrap = Check(
            name="sandbox:local",
            status=severity("local"),
            detail=f"no root filesystem at {current.rootfs_path}",
            fix=f"{build} --target rootfs",
        )
    else:
        detail = f"bubblewrap {current.bwrap}, rootfs {current.rootfs}"
        bwrap = Check(name="sandbox:local", status="ok", detail=detail)
    return [docker, bwrap]


def check_latex() -> Check:
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        return Check(
            name="latex",
            status="warn",
            detail="pdflatex not found: papers are written as .tex, .md and .html only",
            fix="apt-get install texlive-latex-recommended latexmk",
        )
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        return Check(name="latex", status="ok", detail=f"{pdflatex} (latexmk not found: pdflatex + bibtex are run)",
                     fix="apt-get install latexmk")
    return Check(name="latex", status="ok", detail=f"{latexmk} + {pdflatex}")


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
        check_latex,
        lambda: check_disk(settings.runs_dir),
    ]
    return [check() for check in checks] + check_sandboxes(settings)
