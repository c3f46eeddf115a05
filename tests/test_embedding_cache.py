"""The on-disk embedding cache: a text embedded once is never embedded again (the model is not even loaded), the
cached vector is the model's own, the key carries the model's identity, and a broken cache file only costs speed.

Each test points SCIENTIST_EMBEDDING_CACHE at its own file (the suite otherwise shares one per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scientist.tools.index as index_module
from scientist.tools import embedding_cache
from scientist.tools.index import DIMENSIONS, embed, embeddings_cached, load_papers, model_id
from scientist.tools.seed import seed_corpus_cached

CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "synthetic_ai_safety.jsonl"


@pytest.fixture
def cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "embeddings.sqlite3"
    monkeypatch.setenv(embedding_cache.ENV_VAR, str(path))
    return path


def forbid_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("the embedding model was asked for a text the cache holds")

    monkeypatch.setattr(index_module, "load_model", refuse)


@pytest.mark.slow  # embeds with the real model (its one-off load, shared by the process)
def test_a_text_embedded_once_comes_back_from_the_cache_without_the_model(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["reward hacking in gridworlds", "sycophancy in preference models"]
    first = embed(texts)
    assert cache_file.is_file() and embeddings_cached(texts)
    forbid_the_model(monkeypatch)
    again = embed([texts[1], texts[0], texts[1]])  # any order, repeats included
    assert np.array_equal(again, first[[1, 0, 1]])  # byte-identical: the model's own float32 output
    with pytest.raises(AssertionError, match="cache holds"):
        embed([*texts, "a text never seen"])  # only a new text needs the model


def test_the_key_carries_the_model_and_its_weights_version(cache_file: Path) -> None:
    vector = np.ones((1, DIMENSIONS), dtype=np.float32) / np.sqrt(DIMENSIONS)
    embedding_cache.store("some-other-model@1.0", ["a text"], vector)
    assert embedding_cache.lookup("some-other-model@1.0", ["a text"], DIMENSIONS)
    assert not embeddings_cached(["a text"])  # another model's vector is never reused for ours
    assert not embedding_cache.lookup("some-other-model@1.0", ["a text"], DIMENSIONS * 2)  # nor another width
    assert "@" in model_id() and model_id().startswith(index_module.EMBEDDING_MODEL)


def test_off_disables_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(embedding_cache.ENV_VAR, "off")
    assert embedding_cache.cache_path() is None
    embedding_cache.store(model_id(), ["a text"], np.zeros((1, DIMENSIONS), dtype=np.float32))
    assert not embeddings_cached(["a text"])
    monkeypatch.delenv(embedding_cache.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedding_cache.cache_path() == tmp_path / "xdg" / "scientist" / "embeddings.sqlite3"


def test_a_damaged_cache_file_is_reported_once_and_embedding_goes_on(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"this is not a sqlite database" * 100)
    calls: list[list[str]] = []

    class CountingModel:
        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            calls.append(list(texts))
            return np.ones((len(texts), DIMENSIONS), dtype=np.float32)

    monkeypatch.setattr(index_module, "load_model", CountingModel)
    assert embed(["one", "two"]).shape == (2, DIMENSIONS)
    assert embed(["one"]).shape == (1, DIMENSIONS)
    assert calls == [["one", "two"], ["one"]]  # nothing cached, nothing lost
    err = capsys.readouterr().err
    assert err.count(f"embedding cache {cache_file} not used") == 1


def test_the_runs_warm_up_is_skipped_once_the_seed_corpus_is_cached(
    cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.runner import _embeddings_all_cached

    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(CORPUS))
    assert not seed_corpus_cached() and not _embeddings_all_cached()  # a cold cache: the warm-up loads the model
    texts = [paper.text() for paper in load_papers(CORPUS)]
    embedding_cache.store(model_id(), texts[:-1], np.zeros((len(texts) - 1, DIMENSIONS), dtype=np.float32))
    assert not _embeddings_all_cached()  # one paper still to embed
    embedding_cache.store(model_id(), texts[-1:], np.zeros((1, DIMENSIONS), dtype=np.float32))
    assert _embeddings_all_cached()
    monkeypatch.setenv(embedding_cache.ENV_VAR, "off")
    assert not _embeddings_all_cached()  # without a cache the model is needed whatever was embedded before
