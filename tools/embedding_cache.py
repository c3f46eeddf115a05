"""An on-disk cache of paper and query embeddings, keyed by the embedding model and the exact text.

Why: loading the embedding model costs ~10 CPU-seconds per process (torch, transformers, the weights) and every run
that seeds or searches the paper index pays it again for texts it has embedded before — a resumed run, a study's
next cell, a rebuilt index, the same seed corpus in every run. With every text already cached, a process never
loads torch at all. The vectors are the model's own output stored as float32 bytes, so a cached vector is the one
the model returned; the key includes the model name and the weights' version, so new weights never reuse old
vectors.

`SCIENTIST_EMBEDDING_CACHE`: a file path, or `off` to disable; default `~/.cache/scientist/embeddings.sqlite3`.
Why sqlite (stdlib) rather than a cache library: many processes (study cells, test workers) share one file, and
sqlite gives atomic, concurrent inserts with no extra dependency. The cache is an optimisation only: an unreadable,
locked or damaged file is reported once on stderr and the texts are embedded as if there were no cache.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from scientist.config import default_cache_dir

ENV_VAR = "SCIENTIST_EMBEDDING_CACHE"
_BUSY_TIMEOUT_S = 10.0
_SELECT_CHUNK = 500  # sqlite's default limit on bound parameters is 999 (older builds): stay well under it

_lock = threading.Lock()
_warned: set[str] = set()


def cache_path() -> Path | None:
    """Where the cache lives, or None when `SCIENTIST_EMBEDDING_CACHE=off`."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured.lower() in ("off", "0", "false", "none"):
        return None
    return Path(configured).expanduser() if configured else default_cache_dir() / "embeddings.sqlite3"


def text_key(model_id: str, text: str) -> str:
    """One text's key under one model: the model's name and weights version are part of it."""
    return hashlib.sha256(f"{model_id}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _warn_once(path: Path, err: BaseException) -> None:
    if str(path) not in _warned:
        _warned.add(str(path))
        sys.stderr.write(f"note: embedding cache {path} not used ({err}); embedding without it\n")


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One short connection per call (processes come and go); committed on success, always closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, closing(sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S)) as connection, connection:
        connection.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer (many processes share it)
        connection.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dims INTEGER, vector BLOB)")
        yield connection


def lookup(model_id: str, texts: Sequence[str], dims: int) -> dict[int, np.ndarray[Any, np.dtype[np.float32]]]:
    """The cached vectors of `texts`, by position; positions not cached (or any cache failure) are left out."""
    path = cache_path()
    if path is None or not texts or not path.exists():
        return {}
    keys = [text_key(model_id, text) for text in texts]
    found: dict[str, bytes] = {}
    try:
        with _connect(path) as connection:
            unique = sorted(set(keys))
            for start in range(0, len(unique), _SELECT_CHUNK):
                chunk = unique[start : start + _SELECT_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT key, vector FROM vectors WHERE dims = ? AND key IN ({marks})", (dims, *chunk)
                )
                found.update({key: vector for key, vector in rows})
    except (sqlite3.Error, OSError) as err:
        _warn_once(path, err)
        return {}
    return {
        position: np.frombuffer(found[key], dtype=np.float32).copy()
        for position, key in enumerate(keys)
        if key in found and len(found[key]) == dims * 4
    }


def store(model_id: str, texts: Sequence[str], vectors: np.ndarray[Any, np.dtype[np.float32]]) -> None:
    """Remember `vectors` (one row per text); a text already cached keeps its first vector."""
    path = cache_path()
    if path is None or not texts:
        return
    rows = [
        (text_key(model_id, text), int(vector.shape[0]), np.asarray(vector, dtype=np.float32).tobytes())
        for text, vector in zip(texts, vectors, strict=True)
    ]
    try:
        with _connect(path) as connection:
            connection.executemany("INSERT OR IGNORE INTO vectors (key, dims, vector) VALUES (?, ?, ?)", rows)
    except (sqlite3.Error, OSError) as err:
        _warn_once(path, err)
