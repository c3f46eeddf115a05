"""Chunked full-text retrieval (opt-in per source): open PDFs served by a loopback server, read by the reviewer's
PDF reader, chunked into `<collection>-chunks` by `index build --fulltext`, and the nearest passage quoted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scientist.stages.novelty import _quote_passages
from scientist.tools.build import build_index
from scientist.tools.fulltext import ChunkIndex, FullTextFetcher, chunk_text, fulltext_sources
from scientist.tools.index import PaperIndex
from scientist.tools.literature import Paper
from scientist.tools.openalex import OpenAlex
from scientist.tools.scholarly import Record, SourceConfigError, Sources
from scientist.tools.sources import build_sources
from tests.scholarly_stubs import JsonStub, json_answer, serve_json

pytestmark = pytest.mark.usefixtures("fresh_breakers")  # source circuit breakers are process-wide

LAVA = (
    "CONSTRUCTED TEST PASSAGE. In the lava corridor the agent crossed the hot tiles whenever the step penalty was "
    "noisy, because the noise hid the cost of the shortcut. "
) * 12
COINS = (
    "CONSTRUCTED TEST PASSAGE. Agents paid per coin waited at the respawn point and never finished the level, "
    "collecting the same coin again and again. "
) * 12


def make_pdf(*pages: str) -> bytes:
    import pymupdf  # type: ignore[import-untyped]

    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=10)
    data: bytes = doc.tobytes()
    doc.close()
    return data


class Files:
    def __init__(self, files: dict[str, tuple[int, bytes]]) -> None:
        self.files = files
        self.requests: list[str] = []
        self.base_url = ""


@pytest.fixture
def pdfs() -> Iterator[Files]:
    files = Files({"/open/coins.pdf": (200, make_pdf(COINS, LAVA)), "/open/page.html": (200, b"<html>no</html>")})

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            files.requests.append(self.path)
            status, body = files.files.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    files.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield files
    finally:
        server.shutdown()
        server.server_close()


def record(paper_id: str, source: str, pdf_url: str | None, title: str = "Constructed Fixture: Coins") -> Record:
    paper = Paper(id=paper_id, title=title, abstract="a", source=source)
    return Record(paper=paper, sources=[source], pdf_url=pdf_url)


def fetcher(tmp_path: Path, *sources: str) -> FullTextFetcher:
    return FullTextFetcher(set(sources), cache_dir=tmp_path / "pdf-cache", min_interval_s=0.0, timeout_s=5.0)


def test_chunks_are_bounded_overlap_and_keep_every_word() -> None:
    text = " ".join(f"word{n}." for n in range(2000))
    chunks = chunk_text(text, size=500, overlap=100)
    assert len(chunks) > 10 and all(len(chunk) <= 500 for chunk in chunks)
    assert set(" ".join(chunks).split()) == set(text.split())
    assert chunks[0].split()[-1] in chunks[1]  # neighbours overlap
    assert chunk_text("   ") == []


def test_only_named_sources_open_pdfs_are_chunked_and_bad_ones_reported(pdfs: Files, tmp_path: Path) -> None:
    index = PaperIndex(tmp_path / "index", collection="papers")
    chunks = ChunkIndex(index)
    records = [
        record("openalex:W1", "openalex", f"{pdfs.base_url}/open/coins.pdf"),
        record("crossref:X", "crossref", f"{pdfs.base_url}/open/coins.pdf"),  # crossref not named: never fetched
        record("openalex:W2", "openalex", f"{pdfs.base_url}/open/missing.pdf"),
        record("openalex:W3", "openalex", f"{pdfs.base_url}/open/page.html"),
        record("openalex:W4", "openalex", None),  # no open PDF: nothing to do
    ]
    report = chunks.add(records, fetcher(tmp_path, "openalex"))
    assert report.papers == 1 and report.chunks >= 2 and chunks.index.count() == report.chunks
    assert [line.split(":")[0] + ":" + line.split(":")[1] for line in report.failed] == ["openalex:W2", "openalex:W3"]
    assert "HTTP 404" in report.failed[0] and "did not answer a PDF" in report.failed[1]
    assert pdfs.requests.count("/open/coins.pdf") == 1 and index.count() == 0  # the paper collection untouched

    again = chunks.add(records[:1], fetcher(tmp_path, "openalex"))
    assert (again.papers, again.already) == (0, 1) and pdfs.requests.count("/open/coins.pdf") == 1
    assert ChunkIndex(index).add(records[:1], fetcher(tmp_path / "none")).papers == 0  # no source named: off

    passage, score = chunks.best_passage("openalex:W1", "agents crossing lava tiles under a noisy step penalty") or (
        "",
        0.0,
    )
    assert "lava corridor" in passage and score > 0.3
    assert chunks.best_passage("openalex:W9", "lava") is None
    with pytest.raises(SourceConfigError, match="unknown full-text source"):
        fulltext_sources("openalex,scihub")


def test_index_build_fulltext_chunks_each_querys_open_papers(pdfs: Files, tmp_path: Path) -> None:
    work = {
        "id": "https://openalex.org/W0000000007",
        "doi": "https://doi.org/10.5555/fixture.0007",
        "title": "Constructed Fixture: Coins and Lava",
        "publication_year": 2022,
        "authorships": [],
        "locations": [{"landing_page_url": None, "pdf_url": f"{pdfs.base_url}/open/coins.pdf"}],
    }
    answer = {"meta": {"count": 1, "page": 1, "per_page": 5}, "results": [work]}
    for stub in serve_json(JsonStub("openalex", always=json_answer(answer))):
        source = OpenAlex(base_url=stub.base_url, cache_dir=tmp_path / "oa", min_interval_s=0.0)
        index = PaperIndex(tmp_path / "index", collection="papers")
        chunks = ChunkIndex(index)
        report = build_index(
            index, ["coins"], sources=Sources([source]), max_results=5, fulltext=(chunks, fetcher(tmp_path, "openalex"))
        )
    (outcome,) = report.queries
    assert (outcome.added, outcome.chunked, outcome.fulltext_failed) == (1, 1, [])
    assert index.count() == 1 and chunks.index.count() >= 2

    idea: dict[str, Any] = {
        "title": "Noisy step penalties and lava shortcuts",
        "hypothesis": "Noise on the step penalty makes agents cross lava tiles.",
        "related_work": [{"id": "doi:10.5555/fixture.0007", "title": "Constructed Fixture: Coins and Lava"}],
    }
    _quote_passages(index, idea)
    assert "lava corridor" in idea["related_work"][0]["passage"] and idea["related_work"][0]["passage_score"] > 0.3


def test_index_build_fulltext_chunks_semantic_scholars_open_access_pdfs(
    pdfs: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--fulltext semantic_scholar`: the search asks S2 for `openAccessPdf` (its documented paper field) and the
    linked PDF is chunked; a paper whose `openAccessPdf` is null or has an empty url is not fetched."""
    paper = {
        "paperId": "0000000000000000000000000000000000000007",
        "externalIds": {"DOI": "10.5555/fixture.0008"},
        "title": "Constructed Fixture: Coins, Lava and Open Access",
        "abstract": "CONSTRUCTED TEST RECORD.",
        "year": 2022,
        "authors": [{"authorId": "7", "name": "Ada Fixture"}],
        "openAccessPdf": {"url": f"{pdfs.base_url}/open/coins.pdf", "status": "GREEN", "license": "CCBY"},
    }
    closed = {**paper, "paperId": "0" * 39 + "8", "externalIds": {}, "title": "Constructed Fixture: Closed"}
    closed["openAccessPdf"] = {"url": "", "status": None, "license": None}
    answer = {"total": 2, "offset": 0, "data": [paper, closed]}
    for stub in serve_json(JsonStub("s2", always=json_answer(answer))):
        monkeypatch.setenv("SCIENTIST_S2_URL", stub.base_url)
        monkeypatch.setenv("SCIENTIST_S2_MIN_INTERVAL_S", "0")
        monkeypatch.setenv("SCIENTIST_LITERATURE_CACHE_DIR", str(tmp_path / "s2-cache"))
        index = PaperIndex(tmp_path / "index", collection="papers")
        chunks = ChunkIndex(index)
        report = build_index(
            index,
            ["coins"],
            sources=build_sources("semantic_scholar", fulltext={"semantic_scholar"}),
            max_results=5,
            fulltext=(chunks, fetcher(tmp_path, "semantic_scholar")),
        )
        fields = stub.requests[0]["params"]["fields"][0].split(",")
    assert "openAccessPdf" in fields
    (outcome,) = report.queries
    assert (outcome.added, outcome.chunked, outcome.fulltext_failed) == (2, 1, [])
    assert pdfs.requests == ["/open/coins.pdf"] and chunks.index.count() >= 2
    found = chunks.best_passage("doi:10.5555/fixture.0008", "agents crossing lava tiles under a noisy step penalty")
    assert found is not None and "lava corridor" in found[0]
