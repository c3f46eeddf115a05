"""Pending and decided approvals of one run, in `runs/<id>/approvals.sqlite`.

A small SQLite file per run (not a central service) so a run folder stays self-contained and a decision needs no
process running. Deciding is one `BEGIN IMMEDIATE` transaction that flips `pending` to a decision, so of two
concurrent deciders exactly one wins and the other gets a clear error.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from scientist.approvals.errors import ApprovalError
from scientist.runs import RunFolder

APPROVALS_DB = RunFolder.APPROVALS_DB  # a run's, and a study folder's (its budget approvals)
Action = Literal["approve", "reject", "edit"]
Status = Literal["pending", "approved", "rejected", "edited", "superseded"]
STATUS_OF: dict[str, Status] = {"approve": "approved", "reject": "rejected", "edit": "edited"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    decision TEXT,
    decided_by TEXT,
    decided_at TEXT
)
"""


class Decision(BaseModel):
    """What a human decided. `edit` holds the edited fields (idea text, config values); `budget` raised caps."""

    action: Action
    reason: str = ""
    edit: dict[str, Any] = Field(default_factory=dict)
    budget: dict[str, float] = Field(default_factory=dict)


class Approval(BaseModel):
    id: str
    run_id: str
    kind: str
    key: str
    title: str
    payload: dict[str, Any]
    status: Status
    created: str
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _row(row: sqlite3.Row) -> Approval:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    data["decision"] = json.loads(data["decision"]) if data["decision"] else None
    return Approval.model_validate(data)


class ApprovalStore:
    """The approvals of the run in `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / APPROVALS_DB

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)
            yield connection
        finally:
            connection.close()

    def ensure_pending(self, run_id: str, kind: str, key: str, title: str, payload: dict[str, Any]) -> Approval:
        """The approval for `key`, created pending if new (a node re-executed on resume finds its old one)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT * FROM approvals WHERE key = ?", (key,)).fetchone()
            if row is None:
                approval_id = secrets.token_hex(4)
                db.execute(
                    "INSERT INTO approvals (id, run_id, kind, key, title, payload, status, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (approval_id, run_id, kind, key, title, json.dumps(payload, default=str), _now()),
                )
                row = db.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
            db.execute("COMMIT")
        return _row(row)

    def get(self, approval_id: str) -> Approval | None:
        if not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        return _row(row) if row else None

    def all(self) -> list[Approval]:
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT * FROM approvals ORDER BY created, rowid").fetchall()
        return [_row(row) for row in rows]

    def pending(self) -> list[Approval]:
        return [approval for approval in self.all() if approval.status == "pending"]

    def decide(self, approval_id: str, decision: Decision, decided_by: str) -> Approval:
        """Record `decision` if the approval is still pending; otherwise raise (the other decider won)."""
        status = STATUS_OF[decision.action]
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
                if row is None:
                    raise ApprovalError(f"no approval {approval_id!r} in {self.path}")
                if row["status"] != "pending":
                    raise ApprovalError(
                        f"approval {approval_id} was already {row['status']} by {row['decided_by']}"
                        f" at {row['decided_at']}",
                        hint=f"see `scientist approvals show {approval_id}`",
                    )
                cursor = db.execute(
                    "UPDATE approvals SET status = ?, decision = ?, decided_by = ?, decided_at = ?"
                    " WHERE id = ? AND status = 'pending'",
                    (status, decision.model_dump_json(), decided_by, _now(), approval_id),
                )
                if cursor.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; kept as a guard
                    raise ApprovalError(f"approval {approval_id} changed while deciding it")
                row = db.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return _row(row)

    def supersede(self, approval_id: str, by: str, reason: str) -> None:
        """Close a pending approval that no longer needs a decision (e.g. a resume raised the budget itself)."""
        decision = Decision(action="approve", reason=reason)
        with self._connect() as db:
            db.execute(
                "UPDATE approvals SET status = 'superseded', decision = ?, decided_by = ?, decided_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (decision.model_dump_json(), by, _now(), approval_id),
            )


def _stores(runs_dir: Path) -> list[Path]:
    """Every approvals file: one per run, one per study (`studies/<study>/`, its budget stops) and one per run of a
    study (`studies/<study>/<cell>/sample-<i>/<run>/`, its own gates)."""
    found = [
        *runs_dir.glob(f"*/{APPROVALS_DB}"),
        *runs_dir.glob(f"studies/*/{APPROVALS_DB}"),
        *runs_dir.glob(f"studies/*/*/sample-*/*/{APPROVALS_DB}"),
    ]
    return sorted(path for path in found if path.is_file())  # a FIFO of that name would block sqlite's open


def find_approval(runs_dir: Path, approval_id: str) -> tuple[Approval, Path]:
    """Look the id up across all runs in `runs_dir` (ids are random, so at most one run holds it)."""
    for path in _stores(runs_dir):
        approval = ApprovalStore(path.parent).get(approval_id)
        if approval is not None:
            return approval, path.parent
    raise ApprovalError(f"no approval {approval_id!r} in {runs_dir}", hint="see `scientist approvals list`")


def all_approvals(runs_dir: Path) -> list[tuple[Approval, Path]]:
    found: list[tuple[Approval, Path]] = []
    for path in _stores(runs_dir):
        found.extend((approval, path.parent) for approval in ApprovalStore(path.parent).all())
    return found
