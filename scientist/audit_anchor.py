"""Anchors for audit logs, kept outside the run folder (issue 21, item 14).

Threat: someone who can write a run folder (but not the operator's data folder) truncates the log, or edits a
record and re-chains everything after it, and rewrites `audit.head` to match; or appends a forged record and
lets the next honest append "repair" it as an interrupted append. The chain and head alone cannot tell.

So every record's (seq, hash) is also appended, *before* its line is written to the log, to an append-only file
in the user's data folder (`$XDG_DATA_HOME/scientist/audit-anchors/`, or `SCIENTIST_AUDIT_ANCHORS`), one file per
log, named by the sha256 of the log's absolute path. Then:
- a record whose hash differs from its anchor was rewritten (re-chaining, even from record 0);
- an anchor past the log's end means records were removed (or the very last append was interrupted between
  anchoring and writing; the next append then reuses that seq and says so in an `audit_repair` record);
- a record past the last anchor was never written by scientist: forged (a genuine interrupted append is anchored
  first, so it is never mistaken for one).

Limits, stated honestly: someone who can write the data folder too can rewrite the anchors (an HMAC key or a
remote witness would be the next step); a log moved to another folder or machine has no anchor there, which
`verify` reports as "not anchored" rather than as damage; the anchor is not fsynced, so a power cut may lose its
newest lines (the same state as an interrupted append).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

ANCHORS_ENV = "SCIENTIST_AUDIT_ANCHORS"


def anchor_dir() -> Path:
    override = os.environ.get(ANCHORS_ENV)
    if override:
        return Path(override).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "scientist" / "audit-anchors"


def anchor_path(log_path: Path) -> Path:
    key = hashlib.sha256(str(Path(log_path).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return anchor_dir() / f"{key}.jsonl"


def append(log_path: Path, seq: int, record_hash: str) -> None:
    """Anchor record `seq` of the log at `log_path` (best effort: an unwritable data folder loses the anchor,
    never the record)."""
    path = anchor_path(log_path)
    line = json.dumps({"seq": seq, "hash": record_hash}, separators=(",", ":")) + "\n"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read(log_path: Path) -> dict[int, str] | None:
    """seq -> anchored hash (the newest line for a seq wins); None when this log has no anchor file here."""
    path = anchor_path(log_path)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    anchored: dict[int, str] = {}
    for line in data.split(b"\n"):
        try:
            entry = json.loads(line)
            anchored[int(entry["seq"])] = str(entry["hash"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line (interrupted write)
    return anchored


def problem(anchored: dict[int, str], hashes: list[str]) -> tuple[int, str] | None:
    """(seq to blame, sentence) when the log's record hashes disagree with their anchors."""
    if not anchored:
        return None
    last_seq = len(hashes) - 1
    for seq, digest in enumerate(hashes):
        if seq not in anchored:
            if seq > max(anchored):
                extra = f"records {seq} to {last_seq} were" if seq < last_seq else f"record {seq} was"
                return seq, f"{extra} never anchored by scientist (forged, or added outside it)"
            continue
        if anchored[seq] != digest:
            return seq, f"record {seq} does not match its anchor outside the run folder (rewritten and re-chained)"
    top = max(anchored)
    if top > last_seq:
        ends = f"ends at record {last_seq}" if hashes else "is empty"
        return last_seq + 1, (
            f"truncated: the log {ends} but its anchor outside the run folder says record {top} was written"
            " (records removed, or the last append was interrupted)"
        )
    return None
