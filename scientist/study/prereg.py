"""Pre-registration: before a study's first run, freeze what it will measure and how, so it cannot drift.

Why: a study whose file, judge or code changes between its runs compares runs made under different rules, and
hypotheses chosen after seeing results overstate them. `study run` records, before its first run, the study file
(without `[budget]`: raising a cap changes what is spent, not what is measured), the resolved judge settings and
their hash, the code version (package version, git commit and whether the checkout had uncommitted changes, the
lock file's sha256) and the `[hypotheses]`; in the store (with the study) and in `studies/<study>/
preregistration.json`, with a record in that folder's hash-chained audit log. A later `study run` with anything
changed stops with an error naming what changed; `--amend` records the change as an amendment (listed in the
report) and makes it the new reference.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from scientist.audit.events import Preregistration as PreregistrationEvent
from scientist.audit.events import PreregistrationAmendment
from scientist.audit.log import AuditLog, canonical_json
from scientist.errors import ConfigError
from scientist.files import write_text_atomic
from scientist.judging import Judge
from scientist.study.spec import StudySpec

PREREG_FILE = "preregistration.json"
NOT_FROZEN = ("budget",)  # operational, not part of the design (a spent cap is raised by editing it)
_REPO = Path(__file__).resolve().parents[2]


class PreregistrationError(ConfigError):
    """The study changed since it was pre-registered."""


class CodeVersion(BaseModel):
    package: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    lock_sha256: str | None = None

    def describe(self) -> str:
        commit = f" commit {self.git_commit[:12]}" if self.git_commit else ""
        dirty = " with uncommitted changes" if self.git_dirty else ""
        return f"scientist {self.package}{commit}{dirty}"


class Frozen(BaseModel):
    """What must stay the same between the runs of one study."""

    spec_sha256: str
    spec: dict[str, Any]
    judge: dict[str, Any]
    judge_hash: str
    code: CodeVersion
    hypotheses: dict[str, Any] = Field(default_factory=dict)


class Amendment(BaseModel):
    at: str
    changes: list[str]
    frozen: Frozen


class Preregistration(BaseModel):
    study: str
    registered_at: str
    frozen: Frozen
    amendments: list[Amendment] = Field(default_factory=list)

    @property
    def current(self) -> Frozen:
        return self.amendments[-1].frozen if self.amendments else self.frozen


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_version() -> CodeVersion:
    """The installed package's version; in a git checkout its commit and dirtiness; the lock file's sha256."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("scientist")
    except PackageNotFoundError:
        package = "unknown"
    commit = _git("rev-parse", "HEAD") if (_REPO / ".git").exists() else None
    dirty = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    lock = _REPO / "requirements" / "lock.txt"
    return CodeVersion(
        package=package,
        git_commit=commit.strip() if commit else None,
        git_dirty=bool(dirty.strip()) if dirty is not None else None,
        lock_sha256=hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None,
    )


def freeze(spec: StudySpec, judge: Judge, code: CodeVersion | None = None) -> Frozen:
    design = {key: value for key, value in spec.model_dump(mode="json").items() if key not in NOT_FROZEN}
    return Frozen(
        spec_sha256=hashlib.sha256(canonical_json(design).encode()).hexdigest(),
        spec=design,
        judge=judge.model_dump(mode="json"),
        judge_hash=judge.hash,
        code=code or code_version(),
        hypotheses=design.get("hypotheses") or {},
    )


def differences(before: Frozen, now: Frozen) -> list[str]:
    """One line per thing that changed (empty: nothing did)."""
    changes = []
    if before.spec_sha256 != now.spec_sha256:
        keys = sorted(key for key in {*before.spec, *now.spec} if before.spec.get(key) != now.spec.get(key))
        changes.append(f"the study file ({', '.join(keys)})")
    if before.judge_hash != now.judge_hash:
        keys = sorted(key for key in {*before.judge, *now.judge} if before.judge.get(key) != now.judge.get(key))
        changes.append(f"the judge settings ({', '.join(keys)}; hash {before.judge_hash} -> {now.judge_hash})")
    if before.code != now.code:
        changes.append(f"the code version ({before.code.describe()} -> {now.code.describe()})")
    return changes


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def preregister(
    existing: dict[str, Any] | None, spec: StudySpec, judge: Judge, study_dir: Path, *, amend: bool = False
) -> Preregistration:
    """The study's pre-registration: a new one, the unchanged existing one, or (with `amend`) it plus an amendment.

    Raises PreregistrationError, before anything runs, when the study changed and `amend` is not given."""
    now = freeze(spec, judge)
    audit = AuditLog(study_dir)
    if existing is None:
        record = Preregistration(study=spec.name, registered_at=_now(), frozen=now)
        _write(record, study_dir, audit, PreregistrationEvent, {"frozen": now.model_dump(mode="json")})
        return record
    record = Preregistration.model_validate(existing)
    changes = differences(record.current, now)
    if not changes:
        return record
    if not amend:
        raise PreregistrationError(
            f"study {spec.name!r} changed since it was pre-registered ({record.registered_at}): {'; '.join(changes)}",
            hint="undo the change to continue the pre-registered study, or run `scientist study run FILE --amend`"
            " to record it as an amendment (listed in the report)",
        )
    record.amendments.append(Amendment(at=_now(), changes=changes, frozen=now))
    _write(record, study_dir, audit, PreregistrationAmendment, {"changes": changes,
                                                                "frozen": now.model_dump(mode="json")})  # fmt: skip
    return record


def _write(
    record: Preregistration,
    study_dir: Path,
    audit: AuditLog,
    event: type[PreregistrationEvent | PreregistrationAmendment],
    fields: dict[str, Any],
) -> None:
    write_text_atomic(study_dir / PREREG_FILE, json.dumps(record.model_dump(mode="json"), indent=1))
    audit.emit(event(**fields, study=record.study, file=PREREG_FILE), "study")
