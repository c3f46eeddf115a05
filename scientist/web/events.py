"""The run's audit log as typed events for the run page: each record with its stage, its place in the hash chain,
and its blobs (a model call's prompt and response, a section's prompt) ready to open.

The log is parsed here (bounded, leniently: a damaged line becomes a `broken` event, the page still renders);
whether the chain as a whole holds is `scientist.audit.log.verify`'s answer, shown in the summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scientist.audit.log import GENESIS_HASH, AuditRecord, blob_refs
from scientist.runs import RunFolder
from scientist.web.runread import PREVIEW_BYTES, StampCache, cleaned, read_audit_bytes, read_text, stamp

NODE_KINDS = ("node_start", "node_end", "node_waiting")
TIMELINE_PAGE = 200  # events per timeline page
MAX_PAYLOAD_CHARS = 8_000  # of one record's payload shown in the timeline


@dataclass
class Event:
    seq: int
    ts: str
    kind: str
    actor: str
    stage: str
    payload: dict[str, Any]
    hash: str
    linked: bool  # prev_hash is the hash of the record before (GENESIS for the first)
    blobs: list[tuple[str, str]] = field(default_factory=list)  # (field, sha)

    @property
    def payload_json(self) -> str:
        """The payload as indented JSON, cut at MAX_PAYLOAD_CHARS (one record must not swell the page)."""
        text = json.dumps(self.payload, indent=1, ensure_ascii=False, sort_keys=True)
        if len(text) <= MAX_PAYLOAD_CHARS:
            return text
        return f"{text[:MAX_PAYLOAD_CHARS]}\n[... {len(text) - MAX_PAYLOAD_CHARS} more characters not shown]"


@dataclass
class AuditView:
    events: list[Event]
    broken_lines: list[int]  # 1-based lines that are not audit records
    unreadable: str | None = None  # why the log could not be read at all


_parsed: StampCache[AuditView] = StampCache()


def load_events(run_dir: Path) -> AuditView:
    """The log's records as events (parsed again only when the log changed since the last request)."""
    return _parsed.get((str(run_dir), stamp(run_dir, RunFolder.AUDIT_LOG)), lambda: _parse(run_dir))


def _parse(run_dir: Path) -> AuditView:
    data = read_audit_bytes(run_dir)
    if data is None:
        return AuditView([], [], "no readable audit log (absent, not a regular file, or too large for the page)")
    events: list[Event] = []
    broken: list[int] = []
    previous = GENESIS_HASH
    node = ""
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            record = AuditRecord.model_validate_json(line)
        except ValidationError:
            broken.append(number)
            continue
        payload = cleaned(record.payload)
        if record.kind in NODE_KINDS and isinstance(payload.get("node"), str):
            node = payload["node"]
        stage = payload.get("stage") or payload.get("node") or node
        refs = [(key, ref) for key, ref in blob_refs(payload) if isinstance(ref, str)]
        events.append(
            Event(
                seq=record.seq,
                ts=record.ts,
                kind=cleaned(record.kind),
                actor=cleaned(record.actor),
                stage=stage if isinstance(stage, str) else str(stage),
                payload=payload,
                hash=record.hash,
                linked=record.prev_hash == previous,
                blobs=refs,
            )
        )
        previous = record.hash
    return AuditView(events, broken)


def filtered(events: list[Event], kind: str, stage: str) -> list[Event]:
    return [e for e in events if (not kind or e.kind == kind) and (not stage or e.stage == stage)]


def blob_preview(run_dir: Path, sha: str) -> str | None:
    """The first bytes of a blob as text (cleaned), or None when it is missing or not a regular file."""
    return read_text(run_dir, f"blobs/{sha}", PREVIEW_BYTES)


def _seconds(start: str, end: str) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


@dataclass
class StageCost:
    stage: str
    wall_s: float | None = None
    calls: int = 0
    tokens: int = 0
    usd: float = 0.0


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def stage_costs(events: list[Event]) -> list[StageCost]:
    """Wall time (node start to end) and model spend per stage, in the order the stages first ran."""
    rows: dict[str, StageCost] = {}
    started: dict[str, str] = {}
    for event in events:
        row = rows.setdefault(event.stage, StageCost(event.stage)) if event.stage else None
        if event.kind == "node_start":
            started[event.stage] = event.ts
        elif event.kind == "node_end" and row is not None and event.stage in started:
            seconds = _seconds(started.pop(event.stage), event.ts)
            if seconds is not None:
                row.wall_s = (row.wall_s or 0.0) + seconds
        if event.kind == "llm_call" and row is not None:
            row.calls += 1
            row.tokens += int(_number(event.payload.get("total_tokens")))
            row.usd += _number(event.payload.get("cost_usd"))
    return [row for row in rows.values() if row.wall_s is not None or row.calls]


def models_by_role(events: list[Event]) -> dict[str, list[str]]:
    roles: dict[str, set[str]] = {}
    for event in events:
        if event.kind == "llm_call":
            role, model = event.payload.get("role"), event.payload.get("model")
            roles.setdefault(str(role or "?"), set()).add(str(model or "?"))
    return {role: sorted(models) for role, models in sorted(roles.items())}


TAIL_BYTES = 256 * 1024  # the live view reads the log's tail only, whatever its length


def live_status(run_dir: Path) -> dict[str, Any]:
    """The run's current stage (from the last node or approval record in the log's tail), how many records the log
    holds, and its last record: what the live view polls, read in bounded time however long the log grows."""
    from scientist.sandbox import reader
    from scientist.sandbox.reader import RunOutputError

    try:
        tail = reader.read_tail(run_dir, RunFolder.AUDIT_LOG, TAIL_BYTES).encode("utf-8")
    except (RunOutputError, OSError):
        tail = b""
    lines = tail.split(b"\n")[:-1]  # the last piece has no newline yet: not a committed record
    if len(tail) >= TAIL_BYTES:
        lines = lines[1:]  # the first piece may be cut
    parsed: list[AuditRecord] = []
    for line in lines:
        try:
            parsed.append(AuditRecord.model_validate_json(line))
        except ValidationError:
            continue
    stage = ""
    for record in reversed(parsed):
        if record.kind in NODE_KINDS and isinstance(record.payload.get("node"), str):
            stage = f"{record.payload['node']} ({record.kind.removeprefix('node_')})"
            break
        if record.kind == "approval_requested":
            stage = f"waiting: {record.payload.get('kind')}"
            break
    last = parsed[-1] if parsed else None
    return {
        "stage": cleaned(stage),
        "events": last.seq + 1 if last is not None else 0,
        "last": None if last is None else {"seq": last.seq, "kind": cleaned(last.kind), "ts": last.ts},
    }
