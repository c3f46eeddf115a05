"""The offline seed corpus: real arXiv AI-safety abstracts shipped as JSONL, loaded into the index once.

So a run without network (the embedded demo) still judges novelty against real neighbours. The file is
`tools/corpus/seed.jsonl` (the `scientist index import` format); how it is recorded is in `tools/corpus/README.md`.
Loading is skipped when the collection already holds this exact file (its sha256 is kept in the collection's
metadata), so only the first run pays for embedding it. Several processes on one machine (a study's cells in
parallel, Ray workers) share the index folder: `seeding(path)` makes one of them seed while the others wait, then
open the folder afterwards (a chroma client opened mid-seed sees a partial collection, or a locked database, and
its runs' prompts differ from a run that came later).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from scientist.errors import ConfigError
from scientist.tools.index import PaperIndex, embeddings_cached, load_papers

SEED_FILE = Path(__file__).parent / "corpus" / "seed.jsonl"
MARKER = "seed_sha256"


def seed_corpus_path() -> Path | None:
    """`$SCIENTIST_SEED_CORPUS` (a JSONL file; empty disables seeding), else the shipped corpus, else None."""
    configured = os.environ.get("SCIENTIST_SEED_CORPUS")
    if configured is not None:
        if not configured.strip():
            return None
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"SCIENTIST_SEED_CORPUS points to {path}, which is not a file",
                hint="give a JSONL file in the `scientist index import` format, or unset it",
            )
        return path
    return SEED_FILE if SEED_FILE.is_file() else None


def seed_corpus_cached(path: Path | None = None) -> bool:
    """Every paper of the seed corpus has its vector in the embedding cache (False without a seed corpus)."""
    source = path or seed_corpus_path()
    return source is not None and embeddings_cached([paper.text() for paper in load_papers(source)])


LOCK_FILE = ".seeding.lock"


@contextlib.contextmanager
def seeding(index_dir: Path | None) -> Iterator[None]:
    """Hold the index folder's seeding lock (an flock, released if the process dies); None (a chroma server,
    which serialises writes itself): no lock."""
    if index_dir is None:
        yield
        return
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def ensure_seed(index: PaperIndex, path: Path | None = None) -> int:
    """Import the seed corpus into `index` unless this exact file is already in it; returns papers imported."""
    source = path or seed_corpus_path()
    if source is None:
        return 0
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:32]
    metadata = dict(index.collection.metadata or {})
    if metadata.get(MARKER) == digest:
        return 0
    report = index.upsert(load_papers(source))
    index.collection.modify(metadata={**metadata, MARKER: digest})
    return int(report.papers)
