"""Run folders: `runs/<id>/` holds everything about one run, so copying it elsewhere keeps it verifiable."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ValidationError

from scientist import __version__
from scientist.errors import CorruptRunError, RunNotFoundError
from scientist.files import write_text_atomic


class _Entry:
    """A `RunFolder` attribute naming one entry under its root (`folder.plan` is root / "experiments/plan.json")."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, folder: RunFolder, owner: type[RunFolder] | None = None) -> Path:
        return folder.root / self.name


@dataclass(frozen=True)
class RunFolder:
    """One run's folder, `runs/<id>/`: the only place its layout is spelled. Everything about a run lives here, so
    copying the folder elsewhere keeps it verifiable and importable. The class names (relative posix paths) are what
    the bounded web reader takes; the lower-case attributes are the same paths under `root`.

    ```
    runs/<id>/
      run.json                  RunInfo: id, topic, status, current node (save_run)
      config.json               the resolved settings + scientist_version (create_run)
      audit.jsonl, audit.head   hash-chained log and its head (scientist.audit.log); blobs/<sha256> its artifacts
      state.sqlite              langgraph checkpoint: a node's completion is the unit of resume (pipeline)
      approvals.sqlite          pending and decided approvals (approvals.store)
      ideas.json                the drawn ideas (ideate); novelty.json the verdicts (novelty)
      selected_idea.json        the idea the run pursues (select; a human's edit at the idea gate)
      candidates/<stage>.json   best-of-n pools (ideas, plan, draft); candidates/draft_<i>/ a draft candidate's folder
      experiments/              plan.json (variant plan), notes.md, tree.json (tree search), plots/,
                                <label>/{code/, attempt_<n>/, result.json} one planned sandbox run each
      paper/                    the paper's sources, draft.json, paper.md/.html/.tex/.pdf, references.bib
      paper.json                the paper's paths, removed numbers and citations, LaTeX status (write)
      review.json               the reviewer ensemble's result (review)
      judge/<hash>/             the independent judge's judgement.json and its own audit log (judging)
      probe_template/probe-<n>/ a probe's copy of the template (probing.inject)
    ```
    """

    root: Path

    RUN: ClassVar[str] = "run.json"
    CONFIG: ClassVar[str] = "config.json"
    AUDIT_LOG: ClassVar[str] = "audit.jsonl"
    AUDIT_HEAD: ClassVar[str] = "audit.head"  # the chain's last hash (audit.jsonl with the suffix .head)
    BLOBS: ClassVar[str] = "blobs"
    STATE_DB: ClassVar[str] = "state.sqlite"
    APPROVALS_DB: ClassVar[str] = "approvals.sqlite"
    IDEAS: ClassVar[str] = "ideas.json"
    NOVELTY: ClassVar[str] = "novelty.json"
    SELECTED_IDEA: ClassVar[str] = "selected_idea.json"
    CANDIDATES: ClassVar[str] = "candidates"
    EXPERIMENTS: ClassVar[str] = "experiments"
    PLAN: ClassVar[str] = f"{EXPERIMENTS}/plan.json"
    NOTES: ClassVar[str] = f"{EXPERIMENTS}/notes.md"
    TREE: ClassVar[str] = f"{EXPERIMENTS}/tree.json"
    PLOTS: ClassVar[str] = f"{EXPERIMENTS}/plots"
    RESULT: ClassVar[str] = "result.json"  # experiments/<label>/result.json
    PAPER_DIR: ClassVar[str] = "paper"
    DRAFT: ClassVar[str] = f"{PAPER_DIR}/draft.json"
    PAPER_JSON: ClassVar[str] = "paper.json"
    REVIEW: ClassVar[str] = "review.json"
    JUDGE: ClassVar[str] = "judge"
    JUDGEMENT: ClassVar[str] = "judgement.json"  # judge/<hash>/judgement.json
    PROBE_TEMPLATE: ClassVar[str] = "probe_template"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def path(self, name: str) -> Path:
        """`root / name` for one of the class names (or a path below one)."""
        return self.root / name

    run_file = _Entry(RUN)
    config = _Entry(CONFIG)
    audit_log = _Entry(AUDIT_LOG)
    blobs = _Entry(BLOBS)
    state_db = _Entry(STATE_DB)
    approvals_db = _Entry(APPROVALS_DB)
    ideas = _Entry(IDEAS)
    novelty = _Entry(NOVELTY)
    selected_idea = _Entry(SELECTED_IDEA)
    candidates = _Entry(CANDIDATES)
    experiments = _Entry(EXPERIMENTS)
    plan = _Entry(PLAN)
    notes = _Entry(NOTES)
    tree = _Entry(TREE)
    plots = _Entry(PLOTS)
    paper_dir = _Entry(PAPER_DIR)
    draft = _Entry(DRAFT)
    paper_json = _Entry(PAPER_JSON)
    review = _Entry(REVIEW)
    judge = _Entry(JUDGE)
    probe_template = _Entry(PROBE_TEMPLATE)

    def candidate_pool(self, stage: str) -> Path:
        return self.candidates / f"{stage}.json"

    def experiment(self, label: str) -> Path:
        """One planned run's folder, `experiments/<label>/`."""
        return self.experiments / label

    def results(self) -> list[Path]:
        """Every planned run's result.json (in name order)."""
        return sorted(self.experiments.glob(f"*/{self.RESULT}"))

    def judge_dir(self, judge_hash: str) -> Path:
        return self.judge / judge_hash

    def judgement(self, judge_hash: str) -> Path:
        return self.judge_dir(judge_hash) / self.JUDGEMENT

    @staticmethod
    def write_json(
        path: Path,
        data: Any,
        *,
        indent: int = 2,
        sort_keys: bool = False,
        ensure_ascii: bool = False,
        fsync: bool = False,
    ) -> Path:
        """Write a JSON file of the folder atomically (a temporary sibling, then rename; its folder created): a resume,
        the web page or a study worker may read it while it is written, and a kill -9 must leave the old file or the
        new one. The keywords keep each file's format as it always was (non-JSON values as their str)."""
        text = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=str)
        return write_text_atomic(path, text, fsync=fsync)


RUN_FILE = RunFolder.RUN
CONFIG_SNAPSHOT = RunFolder.CONFIG
# The scientist version that created the run, recorded beside its settings in config.json (not a setting itself).
VERSION_KEY = "scientist_version"
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
    RunFolder.write_json(RunFolder(run_dir).config, recorded, sort_keys=True, ensure_ascii=True)
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
