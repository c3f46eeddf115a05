"""The offline seed corpus: real arXiv AI-safety abstracts shipped as JSONL, loaded into the index once.

So a run without network (the embedded demo) still judges novelty against real neighbours. The file is
`tools/corpus/seed.jsonl` (the `scientist index import` format); how it is recorded is in `tools/corpus/README.md`.
Loading is skipped when the collection already holds this exact file (its sha256 is kept in the collection's
metadata), so only the first run pays for embedding it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from scientist.errors import ConfigError
from scientist.tools.index import PaperIndex, load_papers

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
