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
    from scientist.llm.gateway import check_model
    from scientist.llm.providers import provider_for

    try:
        check_model(settings)
    except ScientistError as err:
        return Check(name="model", status="fail", detail=err.message, fix=err.hint or "")
    return Check(name="model", status="ok", detail=provider_for(settings.model).describe(settings.model, settings))


class Ping(BaseModel):
    ok: bool


def check_model_call(settings: Settings) -> Check:
    """One tiny live structured call through the gateway: key, reachability and the structured-output request
    the model's profile chooses, each failure with its fix (a real call, so only when a model is named)."""
    import time

    from scientist.errors import (
        MissingAPIKeyError,
        ModelRuntimeError,
        SchemaRejectedError,
        StructuredOutputError,
        UnknownModelError,
    )
    from scientist.llm.gateway import LLMGateway

    probe = settings.model_copy(update={"llm_mode": "live", "budget_usd": None, "budget_tokens": None,
                                        "transient_retries": 0, "repair_retries": 1})
    gateway = LLMGateway(probe)
    mode = gateway.profile().structured_output
    started = time.perf_counter()
    try:
        gateway.structured("doctor_ping", {}, Ping, stage="doctor", max_tokens=20, temperature=0.0)
    except (MissingAPIKeyError, UnknownModelError, SchemaRejectedError) as err:
        return Check(name="model:call", status="fail", detail=err.message, fix=err.hint or "")
    except StructuredOutputError as err:
        return Check(name="model:call", status="warn", detail=f"answered, but not the JSON asked for: {err.message}",
                     fix=f'try structured_output = "json_object" under [models."{settings.model}"] or a stronger model')
    except ModelRuntimeError as err:
        where = settings.api_base or "the provider"
        return Check(name="model:call", status="fail", detail=f"no answer from {where}: {err.message}",
                     fix="check that the server runs and --api-base (…/v1) is right, or the provider's status")
    seconds = time.perf_counter() - started
    return Check(name="model:call", status="ok", detail=f"{settings.model} answered ({mode}) in {seconds:.1f} s")


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


def check_index() -> Check:
    """How many papers the local paper index holds (novelty checks compare ideas against it), and how to fill it.
    Only `scientist doctor` runs it: a run's preflight does not open the index."""
    import os

    from scientist.tools.index import IndexStoreError, default_index_dir, index_size

    build = 'scientist index build --preset ai-safety (or index build "QUERY" ...)'
    if url := os.environ.get("SCIENTIST_INDEX_URL"):
        return Check(name="index", status="ok", detail=f"a chroma server at {url} (not counted)")
    folder = default_index_dir()
    try:
        size = index_size(folder)
    except IndexStoreError as err:
        return Check(name="index", status="warn", detail=err.message, fix=err.hint or "")
    if not size:
        return Check(
            name="index",
            status="warn",
            detail=f"no paper indexed at {folder}: novelty checks have nothing to compare with",
            fix=build,
        )
    return Check(name="index", status="ok", detail=f"{size} papers at {folder}")


def run_checks(settings: Settings, *, call_model: bool = False) -> list[Check]:
    """Every check; `call_model` adds one live call (`scientist doctor --model M` for a non-embedded model)."""
    checks: list[Callable[[], Check]] = [
        check_python,
        lambda: check_model_runtime(settings),
        check_latex,
        lambda: check_disk(settings.runs_dir),
    ]
    done = [check() for check in checks]
    if call_model and done[1].status == "ok":
        done.insert(2, check_model_call(settings))
    return done + check_sandboxes(settings)
