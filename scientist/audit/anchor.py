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

Signed anchors: with an audit key (`SCIENTIST_AUDIT_KEY_FILE`, else `$XDG_CONFIG_HOME/scientist/audit.key` when
it exists; `scientist audit keygen` writes one, mode 0600, and signs the anchors already there) every anchor line
carries an HMAC-SHA256 over the log's anchor name, seq and hash. Someone who can write the data folder but cannot
read the key can then no longer rewrite the anchors to match a rewritten log: once a key is configured, a line with
a wrong MAC or none is reported by `verify`.

Limits, stated honestly: without a key, someone who can write the data folder too can rewrite the anchors; with
one, whoever can read the key can (keep it on another account or device for that); deleting the anchor file
leaves a log "not anchored" (the run store's copy of the head is the witness then); a log moved to another folder
or machine has no anchor there, which `verify` reports as "not anchored" rather than as damage; the anchor is not
fsynced, so a power cut may lose its newest lines (the same state as an interrupted append).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from scientist.files import write_text_atomic

ANCHORS_ENV = "SCIENTIST_AUDIT_ANCHORS"
KEY_FILE_ENV = "SCIENTIST_AUDIT_KEY_FILE"
KEY_BYTES = 32


def key_path() -> Path:
    override = os.environ.get(KEY_FILE_ENV)
    if override:
        return Path(override).expanduser()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "scientist" / "audit.key"


def audit_key() -> bytes | None:
    """The key that signs anchors, or None (no key file: anchors are unsigned, as before keys existed)."""
    with contextlib.suppress(OSError):
        key = key_path().read_bytes().strip()
        return key or None
    return None


def write_key(path: Path | None = None) -> Path:
    """A new random key (hex), readable by its owner only; an existing key is never overwritten (it would orphan
    every anchor it signed)."""
    path = path or key_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, secrets.token_hex(KEY_BYTES).encode() + b"\n")
    finally:
        os.close(fd)
    return path


def _mac(key: bytes, name: str, seq: int, record_hash: str) -> str:
    return hmac.new(key, f"{name}|{seq}|{record_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Anchors:
    """What the anchor file of one log holds: seq -> hash, whether every line was signed by the current key, and
    the first line that proves the anchors themselves were rewritten."""

    entries: dict[int, str] = field(default_factory=dict)
    signed: bool = False
    bad: tuple[int, str] | None = None


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
    entry: dict[str, object] = {"seq": seq, "hash": record_hash}
    key = audit_key()
    if key is not None:
        entry["mac"] = _mac(key, path.stem, seq, record_hash)
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read(log_path: Path) -> dict[int, str] | None:
    """seq -> anchored hash (the newest line for a seq wins); None when this log has no anchor file here."""
    anchors = read_anchors(log_path)
    return None if anchors is None else anchors.entries


def read_anchors(log_path: Path) -> Anchors | None:
    """The log's anchors, each line's MAC checked when an audit key is configured; None without an anchor file."""
    path = anchor_path(log_path)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    key = audit_key()
    anchors, all_signed = Anchors(), True
    for line in data.split(b"\n"):
        try:
            entry = json.loads(line)
            seq, record_hash = int(entry["seq"]), str(entry["hash"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line (interrupted write)
        mac = entry.get("mac")
        all_signed = all_signed and mac is not None
        if key is not None and anchors.bad is None:
            if mac is None:
                anchors.bad = seq, (
                    f"the anchor of record {seq} is not signed with the audit key: the anchors outside the run"
                    " folder were rewritten (or written without the key: `scientist audit keygen` signs existing ones"
                    " when it creates the key)"
                )
            elif not hmac.compare_digest(str(mac), _mac(key, path.stem, seq, record_hash)):
                anchors.bad = seq, f"the anchor of record {seq} fails its HMAC: the anchors outside the run folder" \
                    " were rewritten"
        all_signed = all_signed and mac is not None
        anchors.entries[seq] = record_hash
    anchors.signed = key is not None and all_signed and bool(anchors.entries) and anchors.bad is None
    return anchors


def sign_existing(key: bytes) -> int:
    """Sign every unsigned anchor line already in the anchor folder (when the key is created: what is there now is
    trusted as of now). Each file is replaced atomically; returns how many lines were signed."""
    signed = 0
    folder = anchor_dir()
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        lines = []
        for line in path.read_bytes().split(b"\n"):
            try:
                entry = json.loads(line)
                seq, record_hash = int(entry["seq"]), str(entry["hash"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn line carries nothing to sign
            if "mac" not in entry:
                entry["mac"], signed = _mac(key, path.stem, seq, record_hash), signed + 1
            lines.append(json.dumps(entry, separators=(",", ":")))
        write_text_atomic(path, "".join(f"{line}\n" for line in lines))
        os.chmod(path, 0o600)
    return signed


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
