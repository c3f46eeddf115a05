"""The run's tamper-evident record: hash-chained JSONL at `runs/<id>/audit.jsonl`, artifacts in `runs/<id>/blobs/`.

Why a hash chain: every record carries the sha256 of its predecessor and of its own canonical JSON, so an edit, a
deleted, reordered or inserted record, or a torn line breaks the chain at the first damaged record and `verify`
can name it. Deleting the *last* records leaves a valid chain, so a sidecar `audit.head` (rewritten atomically
after every append) holds the last seq and hash. A chain has no secret: someone with write access can recompute it
from an edit onward *and* rewrite the head. So each record is also anchored outside the run folder, before its
line is written (`scientist.audit.anchor`: an append-only file in the user's data folder); `verify` and every
append compare the log with it (truncation, re-chaining and forged appends; its docstring states the limits).

Secrets are redacted before anything reaches disk (records and text blobs), because run folders get shared.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from scientist.audit import anchor as audit_anchor
from scientist.audit.events import AuditEvent, check_payload
from scientist.errors import CorruptRunError
from scientist.runs import RunFolder

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditRecord",
    "VerifyReport",
    "blob_refs",
    "canonical_json",
    "is_secret_name",
    "redact",
    "to_jsonable",
    "verify",
]

LOG_NAME = RunFolder.AUDIT_LOG  # also the name of a study's and a judge's log
HEAD_SUFFIX = ".head"  # audit.jsonl -> audit.head
BLOBS_DIR = RunFolder.BLOBS
GENESIS_HASH = "0" * 64
REDACTED = "[REDACTED]"

_MIB = 1024 * 1024
# `verify` reads a run folder someone may have tampered with: no link followed, no FIFO or device opened for a
# blocking read, and every read bounded (no record scientist writes comes near these; a blob is at most
# `model_call_blob_max_bytes` or a diff, a paper or a review).
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_RECORD_BYTES = 16 * _MIB  # one line of the log
MAX_BLOB_BYTES = 256 * _MIB  # one blob hashed by `verify`
MAX_HEAD_BYTES = 4096

_SHA256 = re.compile(r"[0-9a-f]{64}")
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


# -- records --------------------------------------------------------------------------------------------------------
class AuditRecord(BaseModel):
    """One line of the log. `hash` covers every other field, `prev_hash` links to the record before."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seq: int = Field(ge=0)
    ts: str
    kind: str
    actor: str
    payload: dict[str, Any]
    prev_hash: Sha256
    hash: Sha256

    def body(self) -> dict[str, Any]:
        """The hashed fields (everything but `hash`)."""
        return self.model_dump(exclude={"hash"})

    def computed_hash(self) -> str:
        return _sha256_text(canonical_json(self.body()))


class VerifyReport(BaseModel):
    """What `verify` found; `problem` is one sentence a person can act on."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    records_checked: int
    first_bad_seq: int | None = None
    first_bad_line: int | None = None
    problem: str | None = None
    anchored: bool = Field(default=False, description="An anchor outside the run folder was found and checked")
    witnessed: bool = Field(default=False, description="A copy of the head kept elsewhere (the run store) matched")
    signed: bool = Field(default=False, description="Every anchor carried a valid HMAC of the audit key")
    findings: list[str] = Field(
        default_factory=list, description="Every problem found, in file order, one sentence each (`problem` first)"
    )


class Witness(BaseModel):
    """A copy of a log's head kept outside the run folder when the run was recorded (the run store's row): how many
    records there were and the last one's hash. Later appends (a resume) are fine; fewer records or another hash
    at that place mean the log was cut or rewritten since."""

    model_config = ConfigDict(frozen=True)

    records: int
    head_hash: str
    source: str  # where the copy came from, for the message (e.g. "the run store")


class _Head(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seq: int = Field(ge=-1)  # -1: the log was created and is still empty
    hash: Sha256


# -- canonical JSON -------------------------------------------------------------------------------------------------
def to_jsonable(obj: Any) -> Any:
    """Plain JSON values only, so a stored line parses back to exactly what was hashed.

    Paths and unknown objects become `str`, dates `isoformat()`, pydantic models `model_dump(mode="json")`, numpy
    values `tolist()`, sets sorted lists, non-finite floats the strings "NaN"/"Infinity"/"-Infinity" (strict
    JSON has no literal for them), lone surrogates U+FFFD (they cannot be written as UTF-8).
    """
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return _valid_text(obj)
    if isinstance(obj, int) and not isinstance(obj, enum.Enum):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, BaseModel):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, Mapping):
        return {_json_key(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(item) for item in obj]
    if isinstance(obj, set | frozenset):
        return sorted((to_jsonable(item) for item in obj), key=canonical_json)
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, bytes | bytearray):
        return _valid_text(bytes(obj).decode("utf-8", errors="backslashreplace"))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "dtype") and hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy
        return to_jsonable(obj.tolist())
    if isinstance(obj, PurePath | Decimal | uuid.UUID):
        return _valid_text(str(obj))
    return _valid_text(str(obj))


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return _valid_text(key)
    if isinstance(key, enum.Enum):
        key = key.value
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(to_jsonable(key))
    return _valid_text(str(key))


def _valid_text(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: one byte string per value, so hashes are reproducible."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- redaction ------------------------------------------------------------------------------------------------------
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# A word containing one of these names a secret on its own ("client_secret", "PASSWORD", "x-apikey").
_SECRET_PARTS = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "authorization",
    "credential",
    "cookie",
    "apikey",
    "apitoken",
    "accesstoken",
    "authtoken",
    "privatekey",
)
# Names that point *at* a secret or describe one without holding it: paths, env var names, hashes of it.
_POINTER_WORDS = frozenset({"path", "file", "filename", "dir", "directory", "sock", "socket", "env", "var", "name"})
_HASH_SUFFIXES = ("_blob", "_blobs", "_hash", "_sha256", "_sha")
# "token" (singular) is a credential unless the name is about counting or identifying tokens.
_TOKEN_COUNT_WORDS = frozenset(
    {
        "count", "counts", "num", "n", "number", "max", "min", "limit", "limits", "budget", "usage", "used", "total",
        "estimate", "estimated", "per", "rate", "len", "length", "size", "cost", "costs", "price", "id", "ids",
        "index", "type", "kind", "logprob", "logprobs", "prob", "probs", "position", "pos", "left", "remaining",
        "spent", "window",
    }
)  # fmt: skip
# "key" is a credential unless it is clearly a lookup key ("cache_key", "sort_key", "public_key", "key_id").
_LOOKUP_KEY_WORDS = frozenset(
    {
        "cache", "request", "response", "sort", "lookup", "partition", "primary", "foreign", "public", "idempotency",
        "dedup", "group", "index", "dict", "map", "row", "column", "field", "run", "node", "state", "thread",
        "checkpoint", "prompt", "template", "metric", "metrics", "config", "setting", "settings", "id", "ids",
        "fingerprint", "count", "num", "type", "kind",
    }
)  # fmt: skip


def is_secret_name(name: str) -> bool:
    """Whether a dict key or environment variable name looks like it holds a credential.

    API keys, tokens, secrets, passwords and Authorization headers do; token *counts* ("prompt_tokens",
    "max_tokens", "token_count"), lookup keys ("cache_key") and pointers ("key_path", "api_key_env") do not.
    """
    lowered = name.lower()
    if lowered.endswith(_HASH_SUFFIXES):
        return False
    words = [word.lower() for word in _WORDS.findall(name)]
    wordset = frozenset(words)
    if wordset & _POINTER_WORDS:
        return False
    if any(part in word for word in words for part in _SECRET_PARTS):
        return True
    if "token" in wordset and not wordset & _TOKEN_COUNT_WORDS:
        return True
    return bool(wordset & {"key", "keys"}) and not wordset & _LOOKUP_KEY_WORDS


_KEY_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL),
        "[REDACTED:private-key]",
    ),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"), "[REDACTED:anthropic-key]"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), "[REDACTED:openai-key]"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), "[REDACTED:github-token]"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "[REDACTED:aws-key]"),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "[REDACTED:hf-token]"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), "[REDACTED:slack-token]"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), "[REDACTED:google-key]"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), "[REDACTED:jwt]"),
    (re.compile(r"\b([Bb]earer)\s+[A-Za-z0-9\-._~+/]{8,}=*"), r"\1 [REDACTED]"),
)


def _secret_literals(extra_secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(value, replacement) for secret-named env vars (values of 8+ chars) and the caller's extras, longest first."""
    found = {
        value: f"[REDACTED:{name}]" for name, value in os.environ.items() if len(value) >= 8 and is_secret_name(name)
    }
    for value in extra_secrets:
        if value:
            found[value] = REDACTED
    return sorted(found.items(), key=lambda item: -len(item[0]))


def _redact_text(text: str, literals: list[tuple[str, str]]) -> str:
    for value, replacement in literals:
        if value in text:
            text = text.replace(value, replacement)
    for pattern, replacement in _KEY_SHAPES:
        text = pattern.sub(replacement, text)
    return text


def _is_digest(value: str) -> bool:
    return 32 <= len(value) <= 128 and all(ch in "0123456789abcdef" for ch in value)


def _redact(obj: Any, literals: list[tuple[str, str]]) -> Any:
    if isinstance(obj, str):
        return _redact_text(obj, literals)
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and key.endswith(_HASH_SUFFIXES) and isinstance(value, str) and _is_digest(value):
                out[key] = value  # a hex digest carries no secret, and must stay intact to keep pointing at its blob
            elif isinstance(key, str) and is_secret_name(key) and value is not None and not isinstance(value, bool):
                out[_redact_text(key, literals)] = REDACTED
            else:
                out[_redact_text(key, literals) if isinstance(key, str) else key] = _redact(value, literals)
        return out
    if isinstance(obj, list):
        return [_redact(item, literals) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_redact(item, literals) for item in obj)
    return obj


def redact(obj: Any, extra_secrets: Iterable[str] = ()) -> Any:
    """A copy of `obj` with credentials removed, recursively through dicts, lists and tuples.

    - values under secret-looking keys (see `is_secret_name`) become "[REDACTED]" (None and booleans are kept:
      "api_key": null says a key was *not* set, which is worth knowing);
    - in every string, the value of each secret-named environment variable becomes "[REDACTED:<NAME>]";
    - common key shapes (sk-…, sk-ant-…, ghp_…, AKIA…, hf_…, JWTs, "Bearer …", PEM private keys) are replaced;
    - each of `extra_secrets` (literal strings, e.g. a key read from a config file) becomes "[REDACTED]".
    """
    return _redact(obj, _secret_literals(extra_secrets))


def _redact_bytes(data: bytes, extra_secrets: Iterable[str]) -> bytes:
    literals = _secret_literals(extra_secrets)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # binary artifact: only the literal secrets can be found in it reliably
        for value, replacement in literals:
            data = data.replace(value.encode("utf-8", errors="replace"), replacement.encode("utf-8"))
        return data
    cleaned = _redact_text(text, literals)
    return data if cleaned == text else cleaned.encode("utf-8")


# -- blobs ----------------------------------------------------------------------------------------------------------
def blob_refs(payload: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) for every blob reference in a payload: values under keys ending in `_blob`, and the items of
    `blobs` / `*_blobs` (list, dict values or a single string). None means "no blob" and is skipped."""
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            if not isinstance(key, str):
                continue
            if key.endswith("_blob"):
                if value is not None:
                    yield key, value
            elif key == "blobs" or key.endswith("_blobs"):
                items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else [value]
                yield from ((key, item) for item in items if item is not None)
            else:
                yield from blob_refs(value)
    elif isinstance(payload, list | tuple):
        for item in payload:
            yield from blob_refs(item)


# -- reading a folder that may be hostile ---------------------------------------------------------------------
class _Unreadable(Exception):
    """A name that is there but is not read: a symlink, a FIFO, a device, too large. The message completes
    '<the file> …' in one sentence."""


def _open_regular(name: str | Path, dir_fd: int | None = None) -> int:
    """A blocking descriptor for regular file `name` (relative to `dir_fd` when given), opened without following
    a link in its last component and without blocking on a FIFO. FileNotFoundError when absent."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _Unreadable("is a symlink (not followed)") from err
        raise _Unreadable(f"cannot be opened ({os.strerror(err.errno or 0).lower()})") from err
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _Unreadable("is not a regular file (a FIFO, socket, device or folder; not read)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_bounded(fd: int, limit: int) -> bytes:
    """At most `limit` + 1 bytes (one more than allowed tells the caller the file is over its limit)."""
    chunks, total = [], 0
    while total <= limit and (chunk := os.read(fd, min(_MIB, limit + 1 - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _read_regular(path: Path, limit: int) -> bytes | None:
    """A small regular file (the head) read whole; None when absent; _Unreadable when not a regular file or over
    `limit` bytes."""
    try:
        fd = _open_regular(path)
    except FileNotFoundError:
        return None
    try:
        data = _read_bounded(fd, limit)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _Unreadable(f"is over {limit} bytes (not read)")
    return data


def _log_lines(path: Path) -> tuple[list[bytes], bool, bool]:
    """(the log's lines, whether it ends with a newline, whether reading stopped at a line over MAX_RECORD_BYTES:
    then that line, cut, is the last one). Streams the file, so a huge or sparse log costs one over-long line."""
    fd = _open_regular(path)
    lines: list[bytes] = []
    pending = b""
    try:
        while chunk := os.read(fd, 4 * _MIB):
            pieces = (pending + chunk).split(b"\n")
            lines.extend(pieces[:-1])
            pending = pieces[-1]
            if len(pending) > MAX_RECORD_BYTES or any(len(line) > MAX_RECORD_BYTES for line in pieces[:-1]):
                long_at = next((i for i, line in enumerate(lines) if len(line) > MAX_RECORD_BYTES), None)
                if long_at is not None:
                    return lines[: long_at + 1], True, True
                return [*lines, pending[: MAX_RECORD_BYTES + 1]], True, True
    finally:
        os.close(fd)
    if pending:
        lines.append(pending)
    return lines, not pending, False


class _Blobs:
    """The run's blobs folder, opened once without following a link; each blob hashed only when it is a regular
    file within MAX_BLOB_BYTES."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd: int | None = None
        self.problem: str | None = None
        self._opened = False

    def _open(self) -> None:
        self._opened = True
        try:
            self.fd = os.open(self.folder, _DIR_FLAGS)
        except FileNotFoundError:
            return
        except OSError as err:
            why = "a symlink" if err.errno in (errno.ELOOP, errno.ENOTDIR) else os.strerror(err.errno or 0).lower()
            self.problem = f"is not checked: the blobs folder {self.folder} is not a readable folder ({why})"

    def digest(self, ref: str) -> tuple[str | None, str | None]:
        """(sha256 of the blob, None), (None, None) when it is missing, or (None, why it was not read)."""
        if not self._opened:
            self._open()
        if self.problem is not None:
            return None, self.problem
        if self.fd is None:
            return None, None
        try:
            fd = _open_regular(ref, self.fd)
        except FileNotFoundError:
            return None, None
        except _Unreadable as err:
            return None, str(err)
        try:
            size = os.fstat(fd).st_size
            if size > MAX_BLOB_BYTES:
                return None, f"is {size} bytes, over the {MAX_BLOB_BYTES}-byte limit of verify (not read)"
            digest, total = hashlib.sha256(), 0
            while total <= MAX_BLOB_BYTES and (chunk := os.read(fd, _MIB)):
                digest.update(chunk)
                total += len(chunk)
            if total > MAX_BLOB_BYTES:
                return None, f"grew past the {MAX_BLOB_BYTES}-byte limit of verify while it was read"
            return digest.hexdigest(), None
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# -- parsing --------------------------------------------------------------------------------------------------------
class _BadLine(Exception):
    """A log line that is not an intact record; the message completes 'record N was edited (…)'."""


def _parse_line(line: bytes) -> AuditRecord:
    """Parse one line strictly: any byte that differs from what `append` wrote makes this fail."""
    if not line.strip():
        raise _BadLine("line is empty")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _BadLine("line is not valid UTF-8") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise _BadLine(f"line is not valid JSON: {err.msg} at column {err.colno}") from err
    if not isinstance(data, dict):
        raise _BadLine("line is not a JSON object")
    try:
        record = AuditRecord.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        raise _BadLine(f"not a well-formed audit record: {where}: {first['msg']}") from err
    if canonical_json(data) != text:
        raise _BadLine("line is not in canonical form")
    if record.computed_hash() != record.hash:
        raise _BadLine("hash mismatch")
    return record


def _head_path(log_path: Path) -> Path:
    return log_path.with_suffix(HEAD_SUFFIX)


def _read_head(path: Path) -> _Head | None:
    """The head sidecar, None if absent; raises _BadLine if it exists but is not a valid head (or not a regular
    file: a FIFO there must not block the reader)."""
    try:
        raw = _read_regular(path, MAX_HEAD_BYTES)
    except _Unreadable as err:
        raise _BadLine(f"head file {path.name} {err}") from err
    if raw is None:
        return None
    try:
        return _Head.model_validate_json(raw)
    except ValidationError as err:
        raise _BadLine(f"head file {path.name} is not valid") from err


# -- the log --------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Tail:
    """The state the next append continues from, and the file identity it was read at."""

    seq: int
    hash: str
    stamp: tuple[int, int, int]  # (size, inode, mtime_ns)


def _stamp(fd: int) -> tuple[int, int, int]:
    st = os.fstat(fd)
    return (st.st_size, st.st_ino, st.st_mtime_ns)


def _scan_tail(fd: int, size: int) -> tuple[int, bytes, bytes]:
    """(offset just after the last newline, the last complete line, bytes after the last newline)."""
    chunk = 8192
    buf = b""
    pos = size
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        last_nl = buf.rfind(b"\n")
        if last_nl != -1:
            prev_nl = buf.rfind(b"\n", 0, last_nl)
            if prev_nl != -1 or pos == 0:
                return pos + last_nl + 1, buf[prev_nl + 1 : last_nl], buf[last_nl + 1 :]
        chunk *= 2
    return 0, b"", buf


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class AuditLog:
    """Append-only, hash-chained log of one run. Safe across threads (a lock) and processes (`flock`).

    Every append re-reads the tail under the file lock (cheaply: skipped when the file is unchanged since this
    object's last write), so seq and prev_hash continue across reopenings and concurrent writers. Create one
    `AuditLog` per process; do not share an instance across `fork`.
    """

    def __init__(self, run_dir: Path, extra_secrets: Iterable[str] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / LOG_NAME
        self.head_path = _head_path(self.path)
        self.blobs_dir = self.run_dir / BLOBS_DIR
        self.extra_secrets = tuple(secret for secret in extra_secrets if secret)
        self._lock = threading.Lock()
        self._tail: _Tail | None = None

    # -- writing ------------------------------------------------------------------------------------------------
    def append(self, kind: str, actor: str, payload: Mapping[str, Any]) -> AuditRecord:
        """Check the payload against its kind's model, redact, then write one record durably (line + fsync, then
        the head). Returns the record as stored.

        A payload that does not match its kind's model (scientist.audit.events) is refused with AuditEventError
        naming the field; the payload is written as given (the model only checks it), so hashes stay what they were.
        """
        if not isinstance(payload, Mapping):
            raise TypeError(f"audit payload must be a mapping, got {type(payload).__name__}")
        plain = to_jsonable(payload)
        clean: dict[str, Any] = redact(plain, self.extra_secrets)
        self._check_blob_refs(clean)
        check_payload(kind, plain)
        return self._commit(kind, actor, clean)

    def emit(self, event: AuditEvent, actor: str) -> AuditRecord:
        """Write a typed event (`audit.emit(NodeStart(node="write"), "pipeline")`): its kind and the fields that
        were set (the model checked them when it was built)."""
        clean: dict[str, Any] = redact(to_jsonable(event.payload()), self.extra_secrets)
        self._check_blob_refs(clean)
        return self._commit(event.KIND, actor, clean)

    def _commit(self, kind: str, actor: str, clean: dict[str, Any]) -> AuditRecord:
        with self._lock, self._locked() as fd:
            tail = self._current_tail(fd)
            record, self._tail = self._write_record(fd, tail, kind, actor, clean)
        return record

    def put_blob(self, data: bytes | str, *, redact_secrets: bool = True) -> str:
        """Store an artifact under its sha256 (atomic tmp+rename, idempotent) and return the sha.

        Text (and UTF-8 bytes) is redacted like payloads first, so the sha is that of the stored content; pass
        `redact_secrets=False` only for bytes that must be kept verbatim.
        """
        raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else bytes(data)
        if redact_secrets:
            raw = _redact_bytes(raw, self.extra_secrets)
        sha = hashlib.sha256(raw).hexdigest()
        target = self.blob_path(sha)
        if target.exists():  # never overwrite: a blob that no longer matches its name is evidence for `verify`
            return sha
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.blobs_dir / f".tmp-{sha[:16]}-{uuid.uuid4().hex}"
        try:
            with tmp.open("wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(0o444)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return sha

    def blob_path(self, sha: str) -> Path:
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ValueError(f"not a blob sha256: {sha!r}")
        return self.blobs_dir / sha

    # -- reading ------------------------------------------------------------------------------------------------
    def records(self) -> list[AuditRecord]:
        """Every committed record, parsed (no chain check: that is `verify`'s job).

        A final line without its newline is an interrupted write, never a committed record, and is skipped.
        """
        return list(self.iter_records())

    def iter_records(self) -> Iterator[AuditRecord]:
        """`records`, one line at a time: the log is streamed (a FIFO, a link or a line over MAX_RECORD_BYTES is a
        one-line CorruptRunError, never a hang or the whole hostile file in memory)."""
        verify_hint = f"run `scientist audit verify {self.run_dir}` to see what was damaged"
        try:
            fd = _open_regular(self.path)
        except FileNotFoundError:
            return
        except _Unreadable as err:
            raise CorruptRunError(f"audit log {self.path} {err}", hint=verify_hint) from err
        with os.fdopen(fd, "rb") as handle:
            for number, line in enumerate(iter(lambda: handle.readline(MAX_RECORD_BYTES + 1), b""), 1):
                if not line.endswith(b"\n"):
                    if len(line) > MAX_RECORD_BYTES:
                        raise CorruptRunError(
                            f"audit log {self.path} line {number} is over {MAX_RECORD_BYTES} bytes (not read)",
                            hint=verify_hint,
                        )
                    return  # a torn last line: an interrupted write
                try:
                    yield AuditRecord.model_validate_json(line[:-1])
                except ValidationError as err:
                    raise CorruptRunError(
                        f"audit log {self.path} line {number} is not an audit record", hint=verify_hint
                    ) from err

    def find(self, kind: str | None = None, **payload_match: Any) -> list[AuditRecord]:
        """Records of `kind` (any if None) whose payload has every given key with the given value."""
        missing = object()
        return [
            record
            for record in self.iter_records()
            if (kind is None or record.kind == kind)
            and all(record.payload.get(key, missing) == value for key, value in payload_match.items())
        ]

    # -- internals ----------------------------------------------------------------------------------------------
    def _check_blob_refs(self, payload: Mapping[str, Any]) -> None:
        for key, ref in blob_refs(payload):
            if not isinstance(ref, str) or not _SHA256.fullmatch(ref) or not self.blob_path(ref).is_file():
                raise ValueError(f"audit payload field {key!r} must be a sha256 returned by put_blob, got {ref!r}")

    @contextmanager
    def _locked(self) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the flock

    def _corrupt(self, what: str) -> CorruptRunError:
        return CorruptRunError(
            f"audit log {self.path} {what}; refusing to append to a damaged log",
            hint=f"run `scientist audit verify {self.run_dir}` to see where; keep the folder as evidence",
        )

    def _current_tail(self, fd: int) -> _Tail:
        """Where the next record goes, after checking the tail against the head and repairing crash leftovers.

        Repairs are themselves recorded: a torn last line (a write cut short) is moved to a blob, and a head that
        lags the log (a crash between writing a line and the head) is caught up; each adds an `audit_repair`
        record. A log *shorter* than its head, or whose last record differs from it, is never "repaired".
        """
        stamp = _stamp(fd)
        if self._tail is not None and self._tail.stamp == stamp:
            return self._tail
        size = stamp[0]
        boundary, last_line, torn = _scan_tail(fd, size)
        last: AuditRecord | None = None
        if last_line:
            try:
                last = _parse_line(last_line)
            except _BadLine as err:
                raise self._corrupt(f"has a damaged last record ({err})") from err
        seq, last_hash = (last.seq, last.hash) if last else (-1, GENESIS_HASH)
        try:
            head = _read_head(self.head_path)
        except _BadLine as err:
            raise self._corrupt(str(err)) from err
        repairs: list[dict[str, Any]] = []
        if head is None:
            if size:
                raise self._corrupt(f"has no head file {self.head_path.name}")
            self._write_head(-1, GENESIS_HASH)  # from now on a missing head always means damage
        elif head.seq > seq:
            raise self._corrupt(f"ends at record {seq} but its head says {head.seq} (records were removed)")
        elif head.seq == seq and head.hash != last_hash:
            raise self._corrupt(f"record {seq} does not match the head (it was rewritten)")
        elif head.seq < seq:
            if self._hash_at(head.seq) != head.hash:
                raise self._corrupt(f"record {head.seq} does not match the head (it was rewritten)")
            repairs.append({"problem": "head lagged the log (interrupted append)", "head_seq": head.seq, "seq": seq})
        repairs += self._check_anchor(seq, last_hash, head.seq if head is not None else seq)
        if torn:
            torn_sha = self.put_blob(torn, redact_secrets=False)  # already redacted when first written
            os.ftruncate(fd, boundary)
            repairs.append(
                {"problem": "torn last line removed (interrupted append)", "bytes": len(torn), "torn_blob": torn_sha}
            )
        tail = _Tail(seq, last_hash, _stamp(fd))
        for repair in repairs:
            _, tail = self._write_record(fd, tail, "audit_repair", "audit", repair)
        return tail

    def _check_anchor(self, seq: int, last_hash: str, head_seq: int) -> list[dict[str, Any]]:
        """Compare the log's end with its anchor outside the run folder (cheaply: the last record, and any records
        after the head); `verify` checks every record. Returns the repair to record, if any."""
        anchored = audit_anchor.read(self.path)
        if not anchored:
            return []
        top = max(anchored)
        if top == seq + 1:  # anchored, then the append was interrupted before its line was written
            return [{"problem": "anchored record never written (interrupted append)", "seq": seq + 1}]
        if top > seq:
            raise self._corrupt(f"ends at record {seq} but its anchor says record {top} was written (records removed)")
        for index in range(max(head_seq + 1, 0), seq + 1):
            if index not in anchored:
                raise self._corrupt(f"has record {index} that scientist never anchored (forged)")
            if anchored[index] != (last_hash if index == seq else self._hash_at(index)):
                raise self._corrupt(f"record {index} does not match its anchor (rewritten)")
        if seq >= 0 and anchored.get(seq) != last_hash:
            raise self._corrupt(f"record {seq} does not match its anchor (rewritten and re-chained)")
        return []

    def _hash_at(self, seq: int) -> str | None:
        if seq < 0:
            return GENESIS_HASH
        lines = self.path.read_bytes().split(b"\n")
        if seq >= len(lines) - 1:
            return None
        try:
            return _parse_line(lines[seq]).hash
        except _BadLine:
            return None

    def _write_record(
        self, fd: int, tail: _Tail, kind: str, actor: str, payload: dict[str, Any]
    ) -> tuple[AuditRecord, _Tail]:
        body = {
            "seq": tail.seq + 1,
            "ts": _now(),
            "kind": kind,
            "actor": actor,
            "payload": payload,
            "prev_hash": tail.hash,
        }
        record = AuditRecord.model_validate({**body, "hash": _sha256_text(canonical_json(body))})
        audit_anchor.append(self.path, record.seq, record.hash)  # first: a line on disk is always anchored
        _write_all(fd, (canonical_json({**body, "hash": record.hash}) + "\n").encode("utf-8"))
        os.fsync(fd)
        self._write_head(record.seq, record.hash)
        return record, _Tail(record.seq, record.hash, _stamp(fd))

    def _write_head(self, seq: int, record_hash: str) -> None:
        tmp = self.head_path.with_name(f"{self.head_path.name}.tmp.{os.getpid()}.{threading.get_ident()}")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(canonical_json({"seq": seq, "hash": record_hash}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.head_path)


# -- verification ---------------------------------------------------------------------------------------------------
def _bad(checked: int, seq: int | None, problem: str, findings: Iterable[str] = ()) -> VerifyReport:
    return VerifyReport(
        ok=False,
        records_checked=checked,
        first_bad_seq=seq,
        first_bad_line=None if seq is None else seq + 1,
        problem=problem,
        findings=[problem, *findings],
    )


def _chain_problem(index: int, item: AuditRecord | _BadLine, torn_end: bool, prev_hash: str,
                   parsed: list[AuditRecord | _BadLine]) -> str | None:  # fmt: skip
    if isinstance(item, _BadLine):
        return "truncated: last line is not complete JSON" if torn_end else f"record {index} was edited ({item})"
    if torn_end:
        return f"truncated: the last line (record {index}) has no final newline"
    if item.seq != index:
        return _seq_problem(index, item.seq, parsed)
    if item.prev_hash != prev_hash:
        previous = f"record {index - 1}" if index else "the start of the log"
        return f"chain broken: prev_hash of record {index} does not match {previous}"
    return None


def _blob_problems(index: int, payload: Mapping[str, Any], blobs: _Blobs, seen: set[str]) -> list[str]:
    """One sentence per blob of this record that is not intact (each blob reported once, at its first record)."""
    found = []
    for key, ref in blob_refs(payload):
        if not isinstance(ref, str) or not _SHA256.fullmatch(ref):
            found.append(f"record {index} field {key!r} holds {ref!r}, which is not a blob sha256")
            continue
        if ref in seen:
            continue
        seen.add(ref)
        actual, unread = blobs.digest(ref)
        if unread is not None:
            found.append(f"blob {ref} referenced by record {index} {unread}")
        elif actual is None:
            found.append(f"blob {ref} referenced by record {index} is missing")
        elif actual != ref:
            found.append(f"blob {ref} referenced by record {index} is altered (content hash {actual})")
    return found


def verify(run_dir_or_file: Path | str, witness: Witness | None = None) -> VerifyReport:
    """Check the chain, the head and every referenced blob; report every problem, the first in file order first.

    Detects an edit of any byte (hash or canonical-form mismatch), deleted, reordered, duplicated or inserted
    records (seq and prev_hash), a torn last line, removal of the last records (head), and missing or altered
    blobs. Cannot detect a full rewrite of chain *and* head by someone with write access (see module docstring).
    The chain is checked up to its first break; every blob of the records before it is checked. The folder may be
    hostile: no symlink is followed (log, head, blobs folder, blob), a FIFO or device is never opened for a
    blocking read, a log line over MAX_RECORD_BYTES or a blob over MAX_BLOB_BYTES is reported, not read.
    """
    target = Path(run_dir_or_file)
    log_path = target / LOG_NAME if target.is_dir() else target
    try:
        lines, terminated, overlong = _log_lines(log_path)
    except FileNotFoundError:
        return _bad(0, None, f"no audit log: {log_path} does not exist")
    except _Unreadable as err:
        return _bad(0, None, f"the audit log {log_path} {err}")

    parsed: list[AuditRecord | _BadLine] = []
    for line in lines:
        try:
            parsed.append(_parse_line(line))
        except _BadLine as err:
            parsed.append(err)
    if overlong:
        parsed[-1] = _BadLine(f"line is over {MAX_RECORD_BYTES} bytes, longer than any record scientist writes")

    problems: list[tuple[int, int | None, str]] = []  # (records checked, seq to blame, sentence)
    prev_hash = GENESIS_HASH
    blobs, seen = _Blobs(log_path.parent / BLOBS_DIR), set[str]()
    chain_intact = True
    try:
        for index, item in enumerate(parsed):
            torn_end = index == len(parsed) - 1 and not terminated
            problem = _chain_problem(index, item, torn_end, prev_hash, parsed)
            if problem is not None or not isinstance(item, AuditRecord):
                problems.append((index, index, problem or f"record {index} was edited"))
                chain_intact = False
                break
            problems += [(index, index, text) for text in _blob_problems(index, item.payload, blobs, seen)]
            prev_hash = item.hash
    finally:
        blobs.close()

    records = [item for item in parsed if isinstance(item, AuditRecord)]
    anchors = None
    if chain_intact:
        found = _head_problem(_head_path(log_path), records)
        if found is None:
            anchors = audit_anchor.read_anchors(log_path)
            anchored = anchors.entries if anchors is not None else None
            bad = anchors.bad if anchors is not None else None
            found = bad or audit_anchor.problem(anchored or {}, [record.hash for record in records])
            if found is None and witness is not None:
                found = _witness_problem(witness, records)
        if found is not None:
            bad_seq, text = found
            problems.append((min(len(records), max(bad_seq, 0)), bad_seq, text))
    if problems:
        checked, seq, text = problems[0]
        return _bad(checked, seq, text, [later for _, _, later in problems[1:]])
    return VerifyReport(ok=True, records_checked=len(records), anchored=bool(anchors and anchors.entries),
                        witnessed=witness is not None, signed=anchors is not None and anchors.signed)  # fmt: skip


def _witness_problem(witness: Witness, records: list[AuditRecord]) -> tuple[int, str] | None:
    seq = witness.records - 1
    if seq < 0:
        return None
    if seq >= len(records):
        return len(records), (
            f"truncated: {witness.source} recorded {witness.records} records, the log has {len(records)}"
        )
    if records[seq].hash != witness.head_hash:
        return seq, f"record {seq} does not match the copy of the head in {witness.source} (rewritten since)"
    return None


def _seq_problem(index: int, seq: int, parsed: list[AuditRecord | _BadLine]) -> str:
    later = {item.seq for item in parsed[index + 1 :] if isinstance(item, AuditRecord)}
    if seq > index and index in later:
        return f"records out of order: line {index + 1} holds record {seq}, but record {index} comes later"
    if seq > index:
        gap = f"record {index} is" if seq == index + 1 else f"records {index} to {seq - 1} are"
        jump = f"seq jumps {index - 1}→{seq}" if index else f"the log starts at seq {seq}"
        return f"{gap} missing ({jump})"
    return f"records out of order: record {seq} appears again at line {index + 1} (duplicated or moved)"


def _head_problem(head_path: Path, records: list[AuditRecord]) -> tuple[int, str] | None:
    """(seq to blame, sentence) if the head disagrees with an otherwise intact chain."""
    last_seq = len(records) - 1
    last_hash = records[-1].hash if records else GENESIS_HASH
    try:
        head = _read_head(head_path)
    except _BadLine as err:
        return last_seq, str(err)
    if head is None:
        if not records:
            return None
        return last_seq, f"head file {head_path.name} is missing, so removal of the last records cannot be ruled out"
    if head.seq > last_seq:
        ends = f"ends at record {last_seq}" if records else "is empty"
        return last_seq + 1, f"truncated: the log {ends} but the head says {head.seq}"
    if head.seq == last_seq:
        if head.hash != last_hash:
            return last_seq, f"record {last_seq} does not match the head (rewritten after the head was written)"
        return None
    if head.seq >= 0 and records[head.seq].hash != head.hash:
        return head.seq, f"record {head.seq} does not match the head (rewritten after the head was written)"
    extra = last_seq - head.seq
    return head.seq + 1, (
        f"the log has {extra} record(s) after the head (head says record {head.seq}, log ends at {last_seq}):"
        " an append was interrupted before the head was updated, or records were added without it"
    )
