"""The audit log, attacked the way someone hiding what a run did would attack it.

Each forgery edits the files directly (as a person with a text editor or a script would), then asserts that
`verify` fails *and* names the record that was touched. The forger knows the format: `canonical_json` and sha256
are public, so recomputing one record's hash is part of several attacks.

The records here use kinds named `test_*`, which have no model in scientist.audit.events: these tests are about
the log (chain, redaction, canonical JSON), and a kind with a model would refuse their made-up payloads (the
models are tested in tests/test_audit_events.py).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import itertools
import json
import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from scientist.audit import anchor as audit_anchor
from scientist.audit.log import (
    GENESIS_HASH,
    MAX_RECORD_BYTES,
    AuditLog,
    AuditRecord,
    Witness,
    canonical_json,
    is_secret_name,
    redact,
    verify,
)
from scientist.errors import CorruptRunError
from tests.conftest import run_cli

SECRET = "abcd1234efgh"


# -- helpers --------------------------------------------------------------------------------------------------------
def make_log(run_dir: Path, n: int = 5) -> AuditLog:
    """A realistic small log: blobs, token counts, non-ASCII text, nesting."""
    log = AuditLog(run_dir)
    log.append("test_start", "user", {"topic": "reward hacking — naïve ünïcode ✓", "config": {"max_tokens": 700}})
    for i in range(1, n):
        log.append(
            "test_call",
            "llm",
            {
                "stage": "ideate",
                "response_blob": log.put_blob(f"response {i}: ∑ over states"),
                "prompt_tokens": 10 * i,
                "completion_tokens": i,
                "total_tokens": 11 * i,
                "nested": {"list": [i, 1.5, None, True, "x\ny"]},
            },
        )
    return log


def lines_of(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def write_lines(log: AuditLog, lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(lines))


def forge_line(record: dict[str, Any]) -> bytes:
    """What a forger who read the source would write: a record with a correctly recomputed own hash."""
    body = {key: value for key, value in record.items() if key != "hash"}
    record = {**body, "hash": hashlib.sha256(canonical_json(body).encode()).hexdigest()}
    return (canonical_json(record) + "\n").encode()


def rechain(records: list[dict[str, Any]]) -> list[bytes]:
    """The forger's next step after an edit: every prev_hash and hash recomputed, so the chain is self-consistent."""
    lines, prev = [], GENESIS_HASH
    for record in records:
        line = forge_line({**record, "prev_hash": prev})
        prev = load(line)["hash"]
        lines.append(line)
    return lines


def load(line: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(line)
    return data


def assert_names(run_dir: Path, seq: int, *phrases: str) -> str:
    report = verify(run_dir)
    assert not report.ok, "verify accepted a tampered log"
    assert report.first_bad_seq == seq, report.problem
    assert report.first_bad_line == seq + 1
    assert report.problem is not None
    for phrase in phrases:
        assert phrase in report.problem
    return report.problem


# -- the honest path ------------------------------------------------------------------------------------------------
def test_honest_log_verifies_and_chains(tmp_path: Path) -> None:
    log = make_log(tmp_path / "run")
    records = log.records()
    assert [r.seq for r in records] == list(range(5))
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert all(r.hash == r.computed_hash() for r in records)
    assert dt.datetime.fromisoformat(records[0].ts).utcoffset() == dt.timedelta(0)
    assert len(records[0].ts.split(".")[1].split("+")[0]) == 6  # microseconds
    assert json.loads((tmp_path / "run" / "audit.head").read_text()) == {"seq": 4, "hash": records[-1].hash}
    report = verify(tmp_path / "run")
    assert report.ok and report.records_checked == 5 and report.problem is None
    assert verify(log.path).ok  # a path to the file works as well as the run folder


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    make_log(tmp_path / "run", n=3)
    record = AuditLog(tmp_path / "run").append("node_start", "pipeline", {"node": "write"})
    assert record.seq == 3
    assert record.prev_hash == AuditLog(tmp_path / "run").records()[2].hash
    assert verify(tmp_path / "run").ok


def test_append_returns_exactly_what_is_stored(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    returned = log.append("blob", "pipeline", {"b": 1, "a": [1, 2]})
    assert log.records() == [returned]
    assert isinstance(returned, AuditRecord)
    with pytest.raises(ValidationError, match="frozen"):
        returned.seq = 5


def test_find_filters_by_kind_and_payload(tmp_path: Path) -> None:
    log = make_log(tmp_path, n=4)
    assert [r.seq for r in log.find("test_call")] == [1, 2, 3]
    assert [r.seq for r in log.find(kind="test_call", prompt_tokens=20)] == [2]
    assert [r.seq for r in log.find(stage="ideate", completion_tokens=3)] == [3]
    assert log.find("test_call", missing_field=None) == []
    assert AuditLog(tmp_path / "empty").find() == []


def test_non_json_native_payload_rehashes_identically(tmp_path: Path) -> None:
    import numpy as np

    class Colour(enum.Enum):
        RED = "red"

    class Model(BaseModel):
        path: Path
        when: dt.datetime

    when = dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    log = AuditLog(tmp_path)
    payload_in: dict[Any, Any] = {
        "path": tmp_path / "x.txt",
        "when": when,
        "model": Model(path=Path("/a/b"), when=when),
        "colour": Colour.RED,
        "tags": {"b", "a"},
        "pair": (1, 2),
        "metrics": {"acc": np.float64(0.5), "n": np.int64(3), "arr": np.arange(3)},
        "nan": float("nan"),
        "inf": float("-inf"),
        3: "int key",
        "lone_surrogate": "a\ud800b",
    }
    payload = log.append("test_record", "sandbox:local", payload_in).payload
    assert payload["path"] == str(tmp_path / "x.txt")
    assert payload["when"] == when.isoformat()
    assert payload["model"] == {"path": "/a/b", "when": "2025-01-02T03:04:05.000006Z"}
    assert payload["colour"] == "red" and payload["tags"] == ["a", "b"] and payload["pair"] == [1, 2]
    assert payload["metrics"] == {"acc": 0.5, "n": 3, "arr": [0, 1, 2]}
    assert payload["nan"] == "NaN" and payload["inf"] == "-Infinity" and payload["3"] == "int key"
    assert payload["lone_surrogate"] == "a\ufffdb"
    assert b"NaN" not in log.path.read_bytes().replace(b'"NaN"', b"")  # strict JSON: no bare NaN literal
    assert verify(tmp_path).ok


# -- editing bytes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_flipping_any_byte_of_any_record_names_that_record(tmp_path: Path, mask: int) -> None:
    """Every byte of every line, including its newline: verify fails at exactly the record that was touched."""
    log = make_log(tmp_path, n=4)
    original = log.path.read_bytes()
    lines = lines_of(log)
    offset = 0
    for seq, line in enumerate(lines):
        for position in range(len(line)):
            tampered = bytearray(original)
            tampered[offset + position] ^= mask
            log.path.write_bytes(bytes(tampered))
            report = verify(tmp_path)
            assert not report.ok, f"flip at byte {position} of record {seq} went unnoticed"
            assert report.first_bad_seq == seq, (seq, position, report.problem)
            assert report.first_bad_line == seq + 1
        offset += len(line)
    log.path.write_bytes(original)
    assert verify(tmp_path).ok


def test_editing_a_payload_value_reports_hash_mismatch(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[2] = lines[2].replace(b'"prompt_tokens":20', b'"prompt_tokens":2')
    write_lines(log, lines)
    assert assert_names(tmp_path, 2) == "record 2 was edited (hash mismatch)"


def test_reformatting_a_line_without_changing_its_meaning_is_caught(tmp_path: Path) -> None:
    """Pretty-printing or reordering keys keeps the parsed record identical, but is still an edit of the file."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[1] = (json.dumps(load(lines[1])) + "\n").encode()  # spaces after separators, original key order
    write_lines(log, lines)
    assert_names(tmp_path, 1, "record 1 was edited", "canonical")


def test_duplicate_json_key_is_caught(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[3] = lines[3].replace(b'{"actor"', b'{"actor":"user","actor"', 1)
    write_lines(log, lines)
    assert_names(tmp_path, 3, "record 3 was edited")


def test_edit_with_recomputed_own_hash_breaks_the_next_link(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    record = load(lines[2])
    record["payload"]["total_tokens"] = 0
    lines[2] = forge_line(record)
    write_lines(log, lines)
    assert_names(tmp_path, 3, "chain broken: prev_hash of record 3 does not match record 2")


def test_edit_of_last_record_with_recomputed_hash_is_caught_by_the_head(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    record = load(lines[-1])
    record["actor"] = "user"
    lines[-1] = forge_line(record)
    write_lines(log, lines)
    assert_names(tmp_path, 4, "record 4 does not match the head")


def test_rewriting_the_whole_chain_after_an_edit_is_caught_while_the_head_is_intact(tmp_path: Path) -> None:
    """An edit of record 1 followed by recomputing every later prev_hash and hash yields a self-consistent chain;
    only the head (seq + hash of the last record, written at append time) still disagrees.

    Rewriting the chain *and* `audit.head` is caught by the anchor outside the run folder (issue 21); without
    that anchor (the folder moved to another machine) it verifies, reported as `anchored=False`: the last
    assertion pins that limit down so nobody mistakes it for a guarantee.
    """
    log = make_log(tmp_path)
    records = [load(line) for line in lines_of(log)]
    records[1]["payload"]["stage"] = "forged"
    forged = rechain(records)
    prev = load(forged[-1])["hash"]
    write_lines(log, forged)
    assert_names(tmp_path, 4, "record 4 does not match the head")

    (tmp_path / "audit.head").write_text(json.dumps({"seq": 4, "hash": prev}))
    assert_names(tmp_path, 1, "record 1 does not match its anchor outside the run folder")
    audit_anchor.anchor_path(log.path).unlink()  # no anchor on this machine: the documented limit
    report = verify(tmp_path)
    assert report.ok and not report.anchored


# -- deleting, reordering, truncating -------------------------------------------------------------------------------
def test_deleting_a_middle_record(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    del lines[2]
    write_lines(log, lines)
    assert assert_names(tmp_path, 2) == "record 2 is missing (seq jumps 1→3)"


def test_deleting_several_middle_records(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    del lines[1:3]
    write_lines(log, lines)
    assert_names(tmp_path, 1, "records 1 to 2 are missing")


def test_deleting_the_first_record(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    write_lines(log, lines_of(log)[1:])
    assert_names(tmp_path, 0, "record 0 is missing")


def test_deleting_the_last_record_is_caught_by_the_head(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    write_lines(log, lines_of(log)[:-1])
    assert assert_names(tmp_path, 4) == "truncated: the log ends at record 3 but the head says 4"


def test_emptying_the_log_is_caught_by_the_head(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.path.write_bytes(b"")
    assert_names(tmp_path, 0, "truncated: the log is empty but the head says 4")


def test_deleting_the_last_record_and_the_head(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    write_lines(log, lines_of(log)[:-1])
    (tmp_path / "audit.head").unlink()
    report = verify(tmp_path)
    assert not report.ok and "head file audit.head is missing" in str(report.problem)


@pytest.mark.parametrize("first", [0, 1, 3])
def test_swapping_two_lines(tmp_path: Path, first: int) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    write_lines(log, lines)
    assert_names(tmp_path, first, "out of order")


def test_moving_a_record_to_the_end(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines.append(lines.pop(1))
    write_lines(log, lines)
    assert_names(tmp_path, 1, "out of order")


@pytest.mark.parametrize("keep", [1, 40, -2])
def test_truncating_mid_line(tmp_path: Path, keep: int) -> None:
    """Cut the last line (keep bytes of it, -2: all but its closing brace) — as a crash or a careless edit would."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[-1] = lines[-1][:keep]
    write_lines(log, lines)
    assert assert_names(tmp_path, 4) == "truncated: last line is not complete JSON"


def test_truncating_inside_a_middle_record(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    data = log.path.read_bytes()
    cut = sum(len(line) for line in lines_of(log)[:2]) + 30
    log.path.write_bytes(data[:cut])
    assert_names(tmp_path, 2, "truncated: last line is not complete JSON")


def test_removing_only_the_final_newline(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    log.path.write_bytes(log.path.read_bytes()[:-1])
    assert_names(tmp_path, 4, "truncated", "no final newline")


def test_inserting_a_blank_line(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines.insert(2, b"\n")
    write_lines(log, lines)
    assert_names(tmp_path, 2, "record 2 was edited", "empty")


# -- forging records ------------------------------------------------------------------------------------------------
def test_appended_forgery_with_wrong_prev_hash(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    real = [load(line) for line in lines]
    forged = {**real[-1], "seq": 5, "kind": "test_call", "payload": {"total_tokens": 1}, "prev_hash": real[-2]["hash"]}
    write_lines(log, [*lines, forge_line(forged)])
    assert assert_names(tmp_path, 5) == "chain broken: prev_hash of record 5 does not match record 4"


def test_appended_forgery_with_a_correct_link_still_disagrees_with_the_head(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    last = load(lines[-1])
    forged = {**last, "seq": 5, "payload": {"note": "all fine"}, "prev_hash": last["hash"]}
    write_lines(log, [*lines, forge_line(forged)])
    assert_names(tmp_path, 5, "1 record(s) after the head")


def test_inserted_forgery_in_the_middle(tmp_path: Path) -> None:
    """A record slotted in as seq 2 with a valid link to record 1: the real record 2 then appears twice."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    forged = {**load(lines[2]), "payload": {"stage": "forged"}, "prev_hash": load(lines[1])["hash"]}
    lines.insert(2, forge_line(forged))
    write_lines(log, lines)
    assert_names(tmp_path, 3, "record 2 appears again at line 4")


def test_replacing_a_record_with_a_forgery_that_links_backwards(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[2] = forge_line({**load(lines[2]), "payload": {"stage": "forged"}})  # keeps seq 2 and prev_hash
    write_lines(log, lines)
    assert_names(tmp_path, 3, "chain broken")


def test_forged_first_record_must_link_to_genesis(tmp_path: Path) -> None:
    log = make_log(tmp_path, n=2)
    lines = lines_of(log)
    lines[0] = forge_line({**load(lines[0]), "prev_hash": "f" * 64})
    write_lines(log, lines)
    assert_names(tmp_path, 0, "prev_hash of record 0 does not match the start of the log")


def test_extra_field_in_a_record_is_caught(tmp_path: Path) -> None:
    log = make_log(tmp_path, n=2)
    lines = lines_of(log)
    lines[1] = forge_line({**load(lines[1]), "approved_by": "user"})
    write_lines(log, lines)
    assert_names(tmp_path, 1, "record 1 was edited", "approved_by")


# -- blobs ----------------------------------------------------------------------------------------------------------
def test_blob_is_content_addressed_read_only_and_idempotent(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    sha = log.put_blob("some text ✓")
    assert sha == hashlib.sha256("some text ✓".encode()).hexdigest()
    assert log.put_blob(b"some text \xe2\x9c\x93") == sha
    assert log.blob_path(sha).read_text(encoding="utf-8") == "some text ✓"
    assert not log.blob_path(sha).stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [sha]  # no temp files left behind
    binary = bytes(range(256))
    assert log.blob_path(log.put_blob(binary)).read_bytes() == binary
    for bad in ("../audit.jsonl", "ABC", sha.upper(), sha[:-1]):
        with pytest.raises(ValueError):
            log.blob_path(bad)


def _tamper_blob(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def test_altered_blob(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    sha = log.records()[2].payload["response_blob"]
    _tamper_blob(log.blob_path(sha), b"response 2: something else")
    assert_names(tmp_path, 2, f"blob {sha} referenced by record 2 is altered")


def test_missing_blob(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    sha = log.records()[3].payload["response_blob"]
    log.blob_path(sha).unlink()
    assert assert_names(tmp_path, 3) == f"blob {sha} referenced by record 3 is missing"


def test_blobs_lists_and_nested_refs_are_checked(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    a, b, c = (log.put_blob(text) for text in ("a", "b", "c"))
    log.append("test_outputs", "pipeline", {"blobs": [a, b]})
    log.append("test_outputs", "pipeline", {"outputs": [{"paper": {"tex_blob": c}}], "config_diff_blob": None})
    assert verify(tmp_path).ok
    _tamper_blob(log.blob_path(b), b"B")
    assert_names(tmp_path, 0, f"blob {b}", "altered")
    _tamper_blob(log.blob_path(b), b"b")
    log.blob_path(c).unlink()
    assert_names(tmp_path, 1, f"blob {c}", "missing")


# -- a hostile run folder: links, FIFOs, huge sparse files where the blobs and the log should be ------------------
def _hostile_blobs(run: Path) -> tuple[AuditLog, list[str]]:
    """A run whose records 1-3 reference a FIFO, a symlink to /etc/passwd and a 2 GB sparse file named as blobs."""
    log = make_log(run)
    (run / "run.json").write_text("{}")
    shas = [record.payload["response_blob"] for record in log.records()[1:4]]
    fifo, link, sparse = (log.blob_path(sha) for sha in shas)
    for path in (fifo, link, sparse):
        path.chmod(0o644)
        path.unlink()
    os.mkfifo(fifo)
    link.symlink_to("/etc/passwd")
    with sparse.open("wb") as handle:
        handle.truncate(2 * 1024**3)
    return log, shas


def test_verify_reports_each_hostile_blob_without_blocking_following_or_reading_it(tmp_path: Path) -> None:
    _, shas = _hostile_blobs(tmp_path / "run")
    started = time.monotonic()
    result = run_cli("audit", "verify", str(tmp_path / "run"), isolated=True, timeout=60)  # a hang fails here
    assert time.monotonic() - started < 30
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"BROKEN at line 2 (record 1): blob {shas[0]} referenced by record 1 is not a regular file (a FIFO, socket,"
        " device or folder; not read)"
    )
    assert lines[1] == f"also: blob {shas[1]} referenced by record 2 is a symlink (not followed)"
    assert lines[2] == (
        f"also: blob {shas[2]} referenced by record 3 is 2147483648 bytes, over the 268435456-byte limit of verify"
        " (not read)"
    )
    assert len(lines) == 3  # record 4's intact blob, the chain, the head and the anchor are fine
    report = verify(tmp_path / "run")
    assert report.first_bad_seq == 1 and len(report.findings) == 3 and report.findings[0] == report.problem


@pytest.mark.parametrize("damage", ["log_fifo", "log_link", "log_sparse", "head_fifo", "blobs_link"])
def test_verify_never_blocks_on_or_follows_a_hostile_log_head_or_blobs_folder(tmp_path: Path, damage: str) -> None:
    run = tmp_path / "run"
    log = make_log(run)
    (run / "run.json").write_text("{}")
    expected = {
        "log_fifo": "audit.jsonl is not a regular file (a FIFO",
        "log_link": "audit.jsonl is a symlink (not followed)",
        "log_sparse": "BROKEN at line 1 (record 0): record 0 was edited (line is over 16777216 bytes",
        "head_fifo": "head file audit.head is not a regular file (a FIFO",
        "blobs_link": "is not checked: the blobs folder",
    }[damage]
    if damage.startswith("log_"):
        log.path.unlink()
        if damage == "log_fifo":
            os.mkfifo(log.path)
        elif damage == "log_link":
            log.path.symlink_to("/etc/passwd")
        else:
            with log.path.open("wb") as handle:
                handle.truncate(2 * 1024**3)
    elif damage == "head_fifo":
        log.head_path.unlink()
        os.mkfifo(log.head_path)
    else:  # an intact copy elsewhere: following the link would verify, so only not following is right
        elsewhere = tmp_path / "elsewhere"
        (run / "blobs").rename(elsewhere)
        (run / "blobs").symlink_to(elsewhere)
    started = time.monotonic()
    result = run_cli("audit", "verify", str(run), isolated=True, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert expected in result.stdout and result.stdout.startswith("BROKEN"), result.stdout
    assert "root:" not in result.stdout  # nothing of /etc/passwd


def test_append_refuses_references_to_blobs_that_were_never_stored(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    with pytest.raises(ValueError, match="response_blob"):
        log.append("test_call", "llm", {"response_blob": "0" * 64})
    with pytest.raises(ValueError, match="blobs"):
        log.append("test_call", "llm", {"blobs": ["not-a-sha"]})
    assert log.records() == []


# -- secrets --------------------------------------------------------------------------------------------------------
def _all_bytes(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


def test_secrets_never_reach_disk_and_token_counts_survive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "q" * 30)
    log = AuditLog(tmp_path, extra_secrets=["toml-configured-secret"])
    record = log.append(
        "test_call",
        "llm",
        {
            "prompt_tokens": 12,
            "completion_tokens": 30,
            "total_tokens": 42,
            "max_tokens": 700,
            "cache_key": "abc123",
            "request": {
                "api_key": "anything-at-all",
                "headers": {"Authorization": "Bearer " + "z" * 30, "X-Api-Key": SECRET},
                "messages": [{"role": "user", "content": f"my key is {SECRET}, use it"}],
            },
            "password": 12345678,
            "stderr": f"curl -H 'x-api-key: {SECRET}' failed; also toml-configured-secret",
            "client_secret": {"nested": "dict"},
            f"weird_{SECRET}": 1,
            "api_key_set": True,
            "response_blob": log.put_blob(f"the model echoed {SECRET} and hf_{'q' * 30}"),
        },
    )
    assert SECRET.encode() not in _all_bytes(tmp_path)
    assert b"q" * 30 not in _all_bytes(tmp_path)
    assert b"toml-configured-secret" not in _all_bytes(tmp_path)
    payload = record.payload
    assert (payload["prompt_tokens"], payload["completion_tokens"], payload["total_tokens"]) == (12, 30, 42)
    assert payload["max_tokens"] == 700 and payload["cache_key"] == "abc123" and payload["api_key_set"] is True
    assert payload["request"]["api_key"] == "[REDACTED]"
    assert payload["request"]["headers"] == {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]"}
    assert payload["request"]["messages"][0]["content"] == "my key is [REDACTED:MY_SERVICE_API_KEY], use it"
    assert payload["password"] == "[REDACTED]" and payload["client_secret"] == "[REDACTED]"
    assert "weird_[REDACTED:MY_SERVICE_API_KEY]" in payload
    blob = log.blob_path(payload["response_blob"]).read_text(encoding="utf-8")
    assert blob == "the model echoed [REDACTED:MY_SERVICE_API_KEY] and [REDACTED:HF_TOKEN]"
    assert verify(tmp_path).ok


def test_digests_survive_even_a_secret_that_occurs_in_them(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, extra_secrets=["ab"])
    sha = log.put_blob("xyz")
    record = log.append("test_call", "llm", {"response_blob": sha, "request_hash": "ab" * 32, "text": "cab"})
    assert record.payload == {"response_blob": sha, "request_hash": "ab" * 32, "text": "c[REDACTED]"}
    assert verify(tmp_path).ok


@pytest.mark.parametrize(
    "text",
    [
        "sk-" + "A1b2" * 6,
        "sk-proj-" + "A1b2_" * 8,
        "sk-ant-api03-" + "x9" * 20,
        "ghp_" + "a1" * 18,
        "github_pat_" + "A1_" * 10,
        "AKIAIOSFODNN7EXAMPLE",
        "Authorization: Bearer eyJhbGciOi.abc.def-ghi",
        "xoxb-1234567890-abcdef",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    ],
)
def test_key_shapes_in_text_are_redacted(text: str) -> None:
    cleaned = redact({"log": f"before {text} after"})["log"]
    assert cleaned.startswith("before ") and cleaned.endswith(" after")
    assert "REDACTED" in cleaned
    assert text.split()[-1] not in cleaned


def test_ordinary_text_is_left_alone() -> None:
    text = "use sklearn; task-specific risk-averse agents; the bearer of news; 'sk-learn'; 1234567890"
    assert redact({"note": text}) == {"note": text}


def test_short_env_values_are_not_treated_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", "true")
    monkeypatch.setenv("DEPLOY_KEY_PATH", "/home/user/.ssh/id_ed25519")
    assert redact(["true story", "/home/user/.ssh/id_ed25519"]) == ["true story", "/home/user/.ssh/id_ed25519"]


@pytest.mark.parametrize(
    "name",
    [
        "api_key", "OPENAI_API_KEY", "apiKey", "x-api-key", "HF_TOKEN", "access_token", "token", "refresh_token",
        "client_secret", "AWS_SECRET_ACCESS_KEY", "password", "DB_PASSWORD", "Authorization", "private_key",
        "key", "secrets", "Cookie", "credentials",
    ],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "tokens", "prompt_tokens", "completion_tokens", "total_tokens", "max_tokens", "budget_tokens", "token_count",
        "num_tokens", "token_usage", "tokenizer", "TOKENIZERS_PARALLELISM", "cache_key", "sort_key", "public_key",
        "key_path", "api_key_env", "response_blob", "request_hash", "prompt_sha256", "keyword", "monkey", "stage",
    ],
)  # fmt: skip
def test_non_secret_names(name: str) -> None:
    assert not is_secret_name(name)


# -- crashes and damaged logs at append time ------------------------------------------------------------------------
def test_append_repairs_a_torn_last_line_and_keeps_the_evidence(tmp_path: Path) -> None:
    log = make_log(tmp_path, n=3)
    torn = b'{"actor":"llm","hash":"12'
    with log.path.open("ab") as handle:  # a write cut short by a crash
        handle.write(torn)
    assert not verify(tmp_path).ok
    assert len(log.records()) == 3  # readers skip the uncommitted fragment

    record = AuditLog(tmp_path).append("test_resume", "user", {})
    repair = AuditLog(tmp_path).records()[3]
    assert (repair.kind, repair.payload["bytes"]) == ("audit_repair", len(torn))
    assert log.blob_path(repair.payload["torn_blob"]).read_bytes() == torn
    assert record.seq == 4 and record.prev_hash == repair.hash
    assert verify(tmp_path).ok


def test_append_catches_up_a_lagging_head_and_records_it(tmp_path: Path) -> None:
    """A crash between writing a line and writing the head leaves the head one record behind."""
    log = make_log(tmp_path, n=3)
    records = log.records()
    (tmp_path / "audit.head").write_text(json.dumps({"seq": 1, "hash": records[1].hash}))
    assert_names(tmp_path, 2, "after the head")
    AuditLog(tmp_path).append("test_resume", "user", {})
    assert [r.kind for r in log.records()][-2:] == ["audit_repair", "test_resume"]
    assert verify(tmp_path).ok


@pytest.mark.parametrize("damage", ["drop_last", "edit_last", "drop_head", "rewrite_last_and_lag_head"])
def test_append_refuses_to_continue_a_damaged_log(tmp_path: Path, damage: str) -> None:
    """Appending would overwrite the head, destroying the evidence of what was removed: refuse instead."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    if damage == "drop_last":
        write_lines(log, lines[:-1])
    elif damage == "edit_last":
        write_lines(log, [*lines[:-1], lines[-1].replace(b"test_call", b"test_cal!")])
    elif damage == "drop_head":
        (tmp_path / "audit.head").unlink()
    else:
        write_lines(log, [*lines[:-1], forge_line({**load(lines[-1]), "actor": "user"})])
        (tmp_path / "audit.head").write_text(json.dumps({"seq": 3, "hash": "e" * 64}))
    before = log.path.read_bytes()
    with pytest.raises(CorruptRunError) as info:
        AuditLog(tmp_path).append("test_resume", "user", {})
    assert "scientist audit verify" in str(info.value.hint)
    assert log.path.read_bytes() == before


def test_records_reports_a_damaged_middle_line_as_a_user_error(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    lines[1] = b"garbage\n"
    write_lines(log, lines)
    with pytest.raises(CorruptRunError, match="line 2"):
        log.records()


def test_verify_without_a_log(tmp_path: Path) -> None:
    report = verify(tmp_path)
    assert not report.ok and "no audit log" in str(report.problem) and report.records_checked == 0


def test_a_fresh_empty_log_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    write_lines(log, [])
    (tmp_path / "audit.head").write_text(json.dumps({"seq": -1, "hash": GENESIS_HASH}))
    assert verify(tmp_path).ok


# -- the anchor outside the run folder (issue 21) -------------------------------------------------------------------
def test_truncation_with_a_rewritten_head_is_caught_by_the_anchor(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    lines = lines_of(log)
    write_lines(log, lines[:-2])
    (tmp_path / "audit.head").write_text(json.dumps({"seq": 2, "hash": load(lines[2])["hash"]}))
    assert_names(tmp_path, 3, "its anchor outside the run folder says record 4 was written")
    with pytest.raises(CorruptRunError, match="records removed"):
        AuditLog(tmp_path).append("test_resume", "user", {})


def test_a_forged_append_is_not_repaired_as_an_interrupted_one(tmp_path: Path) -> None:
    """A record appended with a correct link but no head update used to be accepted by the next honest append."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    last = load(lines[-1])
    forged = {**last, "seq": 5, "payload": {"note": "all fine"}, "prev_hash": last["hash"]}
    write_lines(log, [*lines, forge_line(forged)])
    with pytest.raises(CorruptRunError, match="never anchored"):
        AuditLog(tmp_path).append("test_resume", "user", {})
    (tmp_path / "audit.head").write_text(json.dumps({"seq": 5, "hash": load(forge_line(forged))["hash"]}))
    assert_names(tmp_path, 5, "record 5 was never anchored by scientist")


def test_the_stores_copy_of_the_head_catches_what_a_moved_folder_has_no_anchor_for(tmp_path: Path) -> None:
    """A folder moved to another machine has no anchor there; the run store's row (records and head hash, saved
    when the run was recorded) still catches a rewritten chain and a cut log, with head files forged to match."""
    log = make_log(tmp_path)
    lines = lines_of(log)
    witness = Witness(records=5, head_hash=load(lines[-1])["hash"], source="the run store (test)")
    audit_anchor.anchor_path(log.path).unlink()  # moved: no anchor here
    assert verify(tmp_path, witness).witnessed
    AuditLog(tmp_path).append("test_resume", "user", {})  # later appends (a resume) are fine
    report = verify(tmp_path, witness)
    assert report.ok and report.witnessed and report.records_checked == 6

    records = [load(line) for line in lines_of(log)]
    records[2]["payload"]["stage"] = "forged"
    forged = rechain(records)
    prev = load(forged[-1])["hash"]
    write_lines(log, forged)
    (tmp_path / "audit.head").write_text(json.dumps({"seq": 5, "hash": prev}))
    audit_anchor.anchor_path(log.path).unlink()
    assert verify(tmp_path).ok  # without a witness: the documented limit
    bad = verify(tmp_path, witness)
    assert not bad.ok and bad.first_bad_seq == 4 and "copy of the head in the run store (test)" in str(bad.problem)

    write_lines(log, forged[:3])
    (tmp_path / "audit.head").write_text(json.dumps({"seq": 2, "hash": load(forged[2])["hash"]}))
    cut = verify(tmp_path, witness)
    assert not cut.ok and "truncated: the run store (test) recorded 5 records, the log has 3" in str(cut.problem)


def test_an_append_interrupted_between_anchor_and_line_is_repaired(tmp_path: Path) -> None:
    log = make_log(tmp_path, n=3)
    audit_anchor.append(log.path, 3, "f" * 64)  # anchored, then the process died before writing the line
    assert_names(tmp_path, 3, "the last append was interrupted")
    AuditLog(tmp_path).append("test_resume", "user", {})
    assert [r.kind for r in log.records()][-2:] == ["audit_repair", "test_resume"]
    report = verify(tmp_path)
    assert report.ok and report.anchored


def test_signed_anchors_catch_a_log_and_its_anchors_rewritten_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a key, whoever can write the data folder can rewrite the anchors to match a rewritten log. With the
    audit key (which that attacker cannot read) every anchor line carries an HMAC: unsigned or mis-signed lines are
    reported. `audit keygen` signs the anchors already there, so older logs stay verifiable."""
    run = tmp_path / "run"
    older = make_log(tmp_path / "older", n=3)  # anchored before the key existed
    keygen = run_cli("audit", "keygen")
    assert keygen.returncode == 0 and "3 existing anchor line(s) signed" in keygen.stdout, keygen.stderr
    key_file = audit_anchor.key_path()
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text().strip()) == 64
    again = run_cli("audit", "keygen")  # never overwritten: it signs every anchor so far
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    report = verify(older.path.parent)
    assert report.ok and report.signed
    log = make_log(run)
    assert verify(run).ok and verify(run).signed
    records = [load(line) for line in lines_of(log)]
    records[2]["payload"]["stage"] = "forged"
    forged = rechain(records)
    write_lines(log, forged)
    (run / "audit.head").write_text(json.dumps({"seq": 4, "hash": load(forged[-1])["hash"]}))
    anchor_file = audit_anchor.anchor_path(log.path)
    plain = [json.dumps({"seq": i, "hash": load(line)["hash"]}) + "\n" for i, line in enumerate(forged)]
    anchor_file.write_text("".join(plain))  # the attacker's anchors, unsigned: they cannot compute the MAC
    assert_names(run, 0, "not signed with the audit key")
    guessed = [json.dumps({"seq": i, "hash": load(line)["hash"], "mac": "0" * 64}) for i, line in enumerate(forged)]
    anchor_file.write_text("\n".join(guessed) + "\n")
    assert_names(run, 0, "fails its HMAC")
    anchor_file.write_text("".join(plain))
    monkeypatch.setenv(audit_anchor.KEY_FILE_ENV, str(tmp_path / "no-key"))  # the same forgery, no key configured:
    assert verify(run).ok and not verify(run).signed  # the documented limit of unsigned anchors


# -- concurrency ----------------------------------------------------------------------------------------------------
def _assert_contiguous(run_dir: Path, total: int, writers: list[str]) -> None:
    report = verify(run_dir)
    assert report.ok, report.problem
    assert report.records_checked == total
    records = AuditLog(run_dir).records()
    assert [r.seq for r in records] == list(range(total))
    for writer in writers:  # each writer's own records keep their order
        mine = [r.payload["i"] for r in records if r.actor == writer]
        assert mine == sorted(mine) and len(mine) == total // len(writers)


@pytest.mark.parametrize("shared", [True, False], ids=["one-instance", "instance-per-thread"])
def test_concurrent_appends_from_threads(tmp_path: Path, shared: bool) -> None:
    common = AuditLog(tmp_path)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        log = common if shared else AuditLog(tmp_path)
        start.wait()
        try:
            for i in range(200):
                log.append("test_event", name, {"i": i})
        except BaseException as err:  # surfaced below; a thread's exception is otherwise lost
            errors.append(err)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    _assert_contiguous(tmp_path, 400, ["t0", "t1"])


def _append_from_process(run_dir: str, name: str, count: int, start: Any) -> None:
    log = AuditLog(Path(run_dir))
    start.wait()
    for i in range(count):
        log.append("test_record", name, {"i": i, "pid": os.getpid()})


def test_concurrent_appends_from_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    processes = [
        context.Process(target=_append_from_process, args=(str(tmp_path), f"p{n}", 200, start)) for n in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0]
    _assert_contiguous(tmp_path, 400, ["p0", "p1"])
    assert len({r.payload["pid"] for r in AuditLog(tmp_path).records()}) == 2


def test_records_stream_the_log_and_refuse_a_huge_line_in_one_line(tmp_path: Path) -> None:
    """`records`/`find` (what `runs show` and reports read) stream the log: a hostile 3 GiB line is a one-line
    CorruptRunError within a 1 GiB address space, not a MemoryError or a hang; a FIFO named like the log too."""
    import subprocess
    import sys

    log = make_log(tmp_path / "run", 3)
    with log.path.open("r+b") as handle:  # a sparse line of 3 GiB after the three honest records
        handle.seek(3 * 1024**3, os.SEEK_END)
        handle.write(b"\n")
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from pathlib import Path\n"
        "from scientist.audit.log import AuditLog\n"
        "from scientist.errors import ScientistError\n"
        "try:\n"
        "    AuditLog(Path(sys.argv[1])).find(kind='test_call')\n"
        "except ScientistError as err:\n"
        "    print(str(err).splitlines()[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(log.run_dir)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"line 4 is over {MAX_RECORD_BYTES} bytes" in done.stdout, done.stdout

    honest = make_log(tmp_path / "honest", 3)
    with honest.path.open("ab") as handle:
        handle.write(b'{"torn": ')  # an interrupted write: skipped, as before
    assert [record.seq for record in honest.records()] == [0, 1, 2]
    assert len(honest.find(kind="test_call")) == 2

    fifo_run = tmp_path / "fifo"
    fifo_run.mkdir()
    os.mkfifo(fifo_run / "audit.jsonl")
    started = time.monotonic()
    with pytest.raises(CorruptRunError, match="not a regular file"):
        AuditLog(fifo_run).records()
    assert time.monotonic() - started < 5
