"""Chunked full text of open papers, in a collection beside the paper index, so a passage can be quoted.

Why: an abstract says what a paper claims, not how; whether an idea was already tested is often in a paragraph of
the method or results. Where a source links an open PDF (arXiv for every paper; OpenAlex's `pdf_url` and Semantic
Scholar's `openAccessPdf` for open access works), `scientist index build --fulltext SOURCES` fetches it
(rate-limited, size-capped, cached on disk), reads its visible text with the reviewer's PDF reader (hidden spans
dropped), cuts it into overlapping passages and embeds them into `<collection>-chunks`. `best_passage` then finds
the passage of a paper nearest to a text.
Opt-in per source: nothing is fetched unless the source is named, and a paper that cannot be read is reported and
skipped, never fatal. The paper collection itself is never touched here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from scientist.config import default_cache_dir
from scientist.tools.index import DIMENSIONS, PaperIndex, embed
from scientist.tools.literature import LiteratureError, ResponseCache, _first_line, _user_agent
from scientist.tools.scholarly import SOURCE_NAMES, Record, SourceConfigError, wait_for_slot

CHUNK_CHARS = 1500
CHUNK_OVERLAP = 200
MAX_PDF_BYTES = 25_000_000
MAX_CHUNKS = 120  # per paper: ~180k characters, a long paper's body
ARXIV_PDF = "https://arxiv.org/pdf"
CHUNK_SUFFIX = "-chunks"


class FullTextError(LiteratureError):
    """One paper's full text could not be fetched or read (it is skipped; its abstract stays indexed)."""


def fulltext_sources(value: str | Sequence[str] | None) -> set[str]:
    """The source names whose open PDFs to fetch, from `--fulltext arxiv,openalex` (empty: none)."""
    if value is None:
        return set()
    items = value.split(",") if isinstance(value, str) else [part for item in value for part in item.split(",")]
    names = {item.strip().lower().replace("-", "_") for item in items if item.strip()}
    unknown = sorted(names - set(SOURCE_NAMES))
    if unknown:
        raise SourceConfigError(
            f"unknown full-text source(s): {', '.join(unknown)}",
            hint=f"choose from {', '.join(SOURCE_NAMES)} (comma-separated)",
        )
    return names


def chunk_text(text: str, size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Passages of at most `size` characters, cut at paragraph, then sentence, then word boundaries; consecutive
    passages share up to `overlap` characters so a sentence on a boundary is whole in one of them."""
    words = re.sub(r"\s+", " ", text).strip()
    if not words:
        return []
    chunks: list[str] = []
    start = 0
    while start < len(words):
        end = min(len(words), start + size)
        if end < len(words):
            cut = max(words.rfind(". ", start + size // 2, end), words.rfind(" ", start + size // 2, end))
            end = cut + 1 if cut > start else end
        chunks.append(words[start:end].strip())
        if end >= len(words):
            break
        next_start = max(end - overlap, start + 1)
        space = words.find(" ", next_start, end)
        start = space + 1 if space != -1 else next_start
    return [chunk for chunk in chunks if chunk]


class FullTextFetcher:
    """Open PDFs over HTTP: one request per `min_interval_s` per host, at most `max_bytes`, cached on disk."""

    def __init__(
        self,
        sources: set[str],
        *,
        cache_dir: Path | None = None,
        min_interval_s: float = 3.0,
        timeout_s: float = 60.0,
        max_bytes: int = MAX_PDF_BYTES,
        arxiv_pdf_url: str | None = None,
    ) -> None:
        self.sources = sources
        self.cache = ResponseCache(cache_dir or default_cache_dir() / "fulltext", suffix=".pdf")
        self.min_interval_s = min_interval_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.arxiv_pdf_url = (arxiv_pdf_url or os.environ.get("SCIENTIST_ARXIV_PDF_URL") or ARXIV_PDF).rstrip("/")
        self._session: Any = None

    def pdf_url(self, record: Record) -> str | None:
        """The open PDF of a record from a named source: the source's own link, else arXiv's for an arXiv id."""
        if not self.sources & set(record.sources):
            return None
        if record.pdf_url:
            return record.pdf_url
        if record.arxiv_id and "arxiv" in self.sources | set(record.sources):
            return f"{self.arxiv_pdf_url}/{record.arxiv_id}"
        return None

    def fetch(self, url: str) -> bytes:
        key = "?" + url  # ResponseCache keys on the query string alone: here the whole URL is the key
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        import requests

        if self._session is None:
            self._session = requests.Session()
        host = re.sub(r"^https?://([^/]+).*$", r"\1", url)
        wait_for_slot(f"fulltext:{host}", self.min_interval_s, time.monotonic() + 600)
        try:
            with self._session.get(
                url, timeout=self.timeout_s, stream=True, headers={"User-Agent": _user_agent()}
            ) as response:
                if response.status_code != 200:
                    raise FullTextError(f"{url} answered HTTP {response.status_code}")
                content = b""
                for piece in response.iter_content(65536):
                    content += piece
                    if len(content) > self.max_bytes:
                        raise FullTextError(f"{url} is larger than {self.max_bytes} bytes")
        except requests.exceptions.RequestException as err:
            raise FullTextError(f"{url} could not be fetched ({_first_line(err)})") from None
        if not content.startswith(b"%PDF"):
            raise FullTextError(f"{url} did not answer a PDF")
        self.cache.put(key, content)
        return content

    def passages(self, record: Record) -> list[str]:
        """The paper's passages, or [] when no source named for full text links an open PDF of it."""
        url = self.pdf_url(record)
        if url is None:
            return []
        from scientist.reviews.paper import PaperReadError, from_pdf

        try:
            text = from_pdf(self.fetch(url), name=url).render()
        except PaperReadError as err:
            raise FullTextError(err.message) from None
        return chunk_text(text)[:MAX_CHUNKS]


class ChunkReport(BaseModel):
    papers: int = 0
    chunks: int = 0
    already: int = 0
    failed: list[str] = Field(default_factory=list)


def chunk_id(paper_id: str, number: int) -> str:
    """`<paper id>/c<number>` (ids hold '/': DOIs do); an over-long paper id is shortened to fit the 100 chars."""
    return f"{paper_id[:90]}/c{number:03d}"


class ChunkIndex:
    """The passages of indexed papers: a collection named after the paper collection, `<name>-chunks`."""

    def __init__(self, papers: PaperIndex) -> None:
        self.index = PaperIndex(papers.path, url=papers.url, collection=papers.collection_name + CHUNK_SUFFIX)

    def add(self, records: Iterable[Record], fetcher: FullTextFetcher) -> ChunkReport:
        """Fetch, chunk and embed each record's open full text; a paper chunked before is skipped."""
        report = ChunkReport()
        for record in records:
            paper = record.paper
            if fetcher.pdf_url(record) is None:
                continue
            if self.index.known_ids([chunk_id(paper.id, 0)]):
                report.already += 1
                continue
            try:
                passages = fetcher.passages(record)
            except FullTextError as err:
                report.failed.append(f"{paper.id}: {err.message}")
                continue
            if not passages:
                continue
            ids = [chunk_id(paper.id, number) for number in range(len(passages))]
            vectors = embed(passages)
            metadatas = [{"paper_id": paper.id, "title": paper.title, "chunk": n} for n in range(len(passages))]
            self.index.upsert_vectors(ids[::-1], vectors[::-1], passages[::-1], metadatas[::-1])  # c000 last: done
            report.papers += 1
            report.chunks += len(passages)
        return report

    def best_passage(self, paper_id: str, text: str) -> tuple[str, float] | None:
        """The passage of `paper_id` nearest to `text` and its cosine similarity; None if it has no passages."""
        vector = embed([text])[0]
        assert vector.shape == (DIMENSIONS,)
        found = self.index.query_where(vector, k=1, where={"paper_id": paper_id})
        if not found:
            return None
        _, document, _, distance = found[0]
        return document, 1.0 - distance
