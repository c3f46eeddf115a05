"""Run folders: `runs/<id>/` holds everything about one run, so copying it elsewhere keeps it verifiable."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from scientist import __version__
from scientist.errors import CorruptRunError, RunNotFoundError
from scientist.files import write_text_atomic

RUN_FILE = "run.json"
CONFIG_SNAPSHOT = "config.json"
# The scientist version that created the run, recorded beside its settings in config.json (not a setting itself).
VERSION_KEY = "scientist_version"
EXPERIMENTS_DIR = "experiments"  # sandbox runs, plan.json, notes.md, the search tree (stages.experiment and search)
RunStatus = Literal["created", "running", "waiting", "paused", "stopped", "failed", "completed"]


class RunInfo(BaseModel):
    id: str
    topic: str
    template: str
    model: str
    created: str
    updated: str
    status: RunStatus = "created"
    status_detail: str = ""
    current_node: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id(topic: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-")[:32].strip("-") or "run"
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{slug}-{secrets.token_hex(2)}"


def create_run(runs_dir: Path, topic: str, template: str, model: str, config: dict[str, Any]) -> RunInfo:
    run_id = new_run_id(topic)
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    info = RunInfo(id=run_id, topic=topic, template=template, model=model, created=_now(), updated=_now())
    save_run(runs_dir, info)
    recorded = {**config, VERSION_KEY: __version__}
    (run_dir / CONFIG_SNAPSHOT).write_text(json.dumps(recorded, indent=2, sort_keys=True), encoding="utf-8")
    return info


def run_relative(run_dir: Path, path: str | Path) -> str:
    """`path` relative to the run folder (posix style) when it lies inside it, else unchanged: what a run's files
    store (result.json's `stdout_path`), so a folder moved or copied to another machine still finds its logs."""
    target = Path(path)
    for base, inside in ((Path(run_dir), target), (Path(run_dir).resolve(), target.resolve())):
        try:
            return inside.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)


LOG_PATH_KEYS = ("stdout_path", "stderr_path")


def run_relative_logs(run_dir: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (a sandbox run's audit record) with its log paths made run-relative like result.json's: the audit
    log then names no host path and stays valid when the folder is moved. A path outside the folder is kept."""
    relative = {key: run_relative(run_dir, payload[key]) for key in LOG_PATH_KEYS if isinstance(payload.get(key), str)}
    return {**payload, **relative}


def stored_run_path(run_dir: Path, stored: str) -> str | None:
    """The run-relative path a stored path names, or None. A relative one is taken as is; an absolute one (written
    before paths were stored relative, on this machine or another) by what follows the run folder's name in it, so
    an old folder opens its logs wherever it now lies. Never a path that climbs out of the folder."""
    path = PurePosixPath(stored)
    if path.is_absolute():
        parts = path.parts
        if run_dir.name not in parts:
            return None
        last = len(parts) - 1 - parts[::-1].index(run_dir.name)
        path = PurePosixPath(*parts[last + 1 :]) if last + 1 < len(parts) else PurePosixPath()
    if not path.parts or ".." in path.parts or path.is_absolute():
        return None
    return path.as_posix()


def run_dir_of(runs_dir: Path, run_id: str) -> Path:
    """Accept a run id or a path to a run folder."""
    candidate = Path(run_id)
    if (candidate / RUN_FILE).exists():
        return candidate
    if (runs_dir / run_id / RUN_FILE).exists():
        return runs_dir / run_id
    if (runs_dir / run_id).is_dir() or candidate.is_dir():
        raise CorruptRunError(
            f"run folder {run_id} has no {RUN_FILE}", hint="it was not created by scientist, or was damaged"
        )
    raise RunNotFoundError(f"no run {run_id!r} in {runs_dir}", hint="see `scientist runs list`")


def load_run(runs_dir: Path, run_id: str) -> tuple[RunInfo, Path]:
    run_dir = run_dir_of(runs_dir, run_id)
    try:
        info = RunInfo.model_validate_json((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as err:
        raise CorruptRunError(f"{run_dir / RUN_FILE} is damaged: {err.__class__.__name__}") from err
    return info, run_dir


def load_config_snapshot(run_dir: Path) -> dict[str, Any]:
    """The run's recorded settings (without the version that recorded them: see `recorded_version`)."""
    data = _read_config(run_dir)
    data.pop(VERSION_KEY, None)
    return data


def recorded_version(run_dir: Path) -> str | None:
    """The scientist version that created the run (None for runs made before versions were recorded)."""
    value = _read_config(run_dir).get(VERSION_KEY)
    return value if isinstance(value, str) else None


def _read_config(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / CONFIG_SNAPSHOT).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptRunError(f"{run_dir / CONFIG_SNAPSHOT} is missing or damaged") from err
    if not isinstance(data, dict):
        raise CorruptRunError(f"{run_dir / CONFIG_SNAPSHOT} is not a JSON object")
    return data


def save_run(runs_dir: Path, info: RunInfo, run_dir: Path | None = None) -> None:
    folder = run_dir or runs_dir / info.id
    write_text_atomic(folder / RUN_FILE, info.model_copy(update={"updated": _now()}).model_dump_json(indent=2))


def list_runs(runs_dir: Path) -> list[RunInfo]:
    infos = []
    for path in sorted(runs_dir.glob(f"*/{RUN_FILE}")):
        if not path.is_file():  # a FIFO named run.json would block the read (and whoever lists runs) forever
            continue
        try:
            infos.append(RunInfo.model_validate_json(path.read_text(encoding="utf-8")))
        except (ValidationError, UnicodeDecodeError):
            continue
    return infos


def write_json(path: Path, data: Any) -> None:
    """Write a run-folder JSON file atomically (a temporary file, then rename), creating its folder."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str))
