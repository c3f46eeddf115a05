"""Semantic Scholar's Academic Graph paper search as a scholarly Source (https://api.semanticscholar.org/api-docs).

The rules this relies on, from Semantic Scholar's API documentation:
- `GET /graph/v1/paper/search?query=...&offset=&limit=&fields=` is relevance search; `limit` is at most 100 and
  relevance search returns at most 1,000 results (offset + limit); `year=2019-` keeps papers from 2019 on; `fields`
  names what each paper carries (`paperId` always).
- The answer is `{"total": n, "offset": o, "next": o2, "data": [Paper, ...]}`, `next` absent on the last page; a
  Paper has `paperId`, `title`, `abstract` (may be null), `authors[].name`, `year`, `publicationDate`,
  `externalIds` (`DOI`, `ArXiv`, ...) and `url`.
- `openAccessPdf` (a field to ask for) is `{"url", "status", "license", "disclaimer"}` or null: `url` links the
  paper's open-access PDF where S2 knows one (an empty string, or a null object, where it does not).
- An API key, optional, goes in the `x-api-key` header and gives a dedicated rate (1 request per second to start);
  without one, requests share a pool whose limit is announced as 100 requests per 5 minutes, hence 3 s here.
  Exceeding it answers 429; callers should honour `Retry-After` and back off exponentially. Errors carry
  `{"message": ...}` or `{"error": ...}`.
The key is read from `SCIENTIST_S2_API_KEY` (or `SEMANTIC_SCHOLAR_API_KEY`), sent only as that header, and never
logged, cached or put in an error message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scientist.tools.scholarly import JsonSource, Record, env_options, make_record, parse_date, validated

S2_API = "https://api.semanticscholar.org/graph/v1"
MAX_LIMIT = 100
MAX_RELEVANCE_RESULTS = 1000
FIELDS = "title,abstract,authors,year,publicationDate,externalIds,url"
OPEN_ACCESS_FIELD = "openAccessPdf"  # asked for only when full text is wanted: other searches keep their cache keys


class _Author(BaseModel):
    name: str | None = None


class _OpenAccessPdf(BaseModel):
    url: str | None = None
    status: str | None = None


class _Paper(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    paperId: str  # the API's field names
    title: str | None = None
    abstract: str | None = None
    authors: list[_Author] = Field(default_factory=list)
    year: int | None = None
    publicationDate: str | None = None
    externalIds: dict[str, Any] | None = None
    url: str | None = None
    openAccessPdf: _OpenAccessPdf | None = None


class _SearchPage(BaseModel):
    total: int | None = None
    offset: int = 0
    next: int | None = None
    data: list[_Paper] = Field(default_factory=list)


class SemanticScholar(JsonSource):
    name = "semantic_scholar"
    default_url = S2_API
    min_interval_s = 3.0

    def __init__(self, *, api_key: str | None = None, open_access: bool = False, **options: Any) -> None:
        """`open_access`: also ask for each paper's `openAccessPdf`, kept as the record's `pdf_url` (full text)."""
        self.open_access = open_access
        headers = dict(options.pop("headers", None) or {})
        if api_key:
            headers["x-api-key"] = api_key
        if api_key and options.get("min_interval_s") is None:
            options["min_interval_s"] = 1.0  # the documented introductory rate of a key
        super().__init__(headers=headers, **options)

    def __repr__(self) -> str:  # never show the key
        key = "set" if "x-api-key" in self.headers else "none"
        return f"SemanticScholar(base_url={self.base_url!r}, api_key={key})"

    @classmethod
    def from_env(cls, **overrides: Any) -> SemanticScholar:
        """`SCIENTIST_S2_URL`, `SCIENTIST_S2_MIN_INTERVAL_S`, `SCIENTIST_S2_API_KEY` (or `SEMANTIC_SCHOLAR_API_KEY`)."""
        key = os.environ.get("SCIENTIST_S2_API_KEY") or os.environ.get("SEMANTIC_SCHOLAR_API_KEY") or None
        return cls(api_key=key.strip() if key else None, **env_options("S2", **overrides))

    def requests_for(self, query: str, max_results: int, since: int | None) -> Iterable[tuple[str, dict[str, str]]]:
        wanted = min(max_results, MAX_RELEVANCE_RESULTS)
        offset = 0
        while offset < wanted:
            limit = min(MAX_LIMIT, wanted - offset)
            fields = f"{FIELDS},{OPEN_ACCESS_FIELD}" if self.open_access else FIELDS
            params = {"query": query, "offset": str(offset), "limit": str(limit), "fields": fields}
            if since:
                params["year"] = f"{since}-"
            yield "/paper/search", params
            offset += limit

    def parse(self, data: Any) -> tuple[list[Record], bool]:
        page: _SearchPage = validated(_SearchPage, data, self.name)
        records = []
        for paper in page.data:
            ids = {key.lower(): str(value) for key, value in (paper.externalIds or {}).items() if value}
            record = make_record(
                self.name,
                native_id=paper.paperId,
                title=paper.title,
                abstract=paper.abstract,
                authors=[author.name for author in paper.authors if author.name],
                doi=ids.get("doi"),
                arxiv_id=ids.get("arxiv"),
                published=parse_date(paper.publicationDate) or parse_date(str(paper.year or "")),
            )
            if record is not None:
                pdf = (paper.openAccessPdf.url or "").strip() if paper.openAccessPdf else ""
                records.append(record.model_copy(update={"pdf_url": pdf}) if pdf.startswith("http") else record)
        return records, page.next is not None and bool(page.data)
