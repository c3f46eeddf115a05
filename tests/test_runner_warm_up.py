"""The run's preflight loads the paper index's embedding model (~10 s, torch) only when there are papers to embed:
a seed corpus or a non-empty local index. A fresh install with neither starts its run without that cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from scientist.runner import _index_starts_empty

CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "synthetic_ai_safety.jsonl"


def test_no_seed_corpus_and_no_index_skips_the_warm_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")
    monkeypatch.setenv("SCIENTIST_INDEX_DIR", str(tmp_path / "index"))
    assert _index_starts_empty()
    assert not (tmp_path / "index").exists()  # asking created nothing


def test_a_seed_corpus_a_filled_index_or_a_remote_one_keeps_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import numpy as np

    from scientist.tools.index import DIMENSIONS, PaperIndex

    monkeypatch.setenv("SCIENTIST_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(CORPUS))
    assert not _index_starts_empty()  # the seed corpus will be embedded now
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")
    unit = np.zeros((1, DIMENSIONS), dtype=np.float32)
    unit[0, 0] = 1.0
    PaperIndex().upsert_vectors(["p1"], unit, documents=["a paper"])  # no model loaded for the test
    assert not _index_starts_empty()  # papers already indexed: a search embeds its query
    monkeypatch.setenv("SCIENTIST_INDEX_DIR", str(tmp_path / "other"))
    monkeypatch.setenv("SCIENTIST_INDEX_URL", "http://127.0.0.1:9")
    assert not _index_starts_empty()  # a chroma server is not assumed empty


def test_an_unreadable_index_is_not_taken_for_empty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "chroma.sqlite3").write_bytes(b"not a database")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")
    monkeypatch.setenv("SCIENTIST_INDEX_DIR", str(folder))
    assert not _index_starts_empty()  # the warm-up goes ahead and the index's own error is reported as before
