"""OpenAlex works search as a scholarly Source (https://docs.openalex.org, https://developers.openalex.org).

The rules this relies on, from OpenAlex's documentation:
- `GET /works?search=...` searches titles, abstracts and full text; paging is `page` (from 1) and `per-page` (at most
  200); `filter=from_publication_date:YYYY-MM-DD` restricts the date ("Filter works", "Paging").
- A list answer is `{"meta": {"count", "page", "per_page", ...}, "results": [Work, ...]}`; a Work has `id`
  (`https://openalex.org/W...`), `doi` (a `https://doi.org/...` URL or null), `title`/`display_name`,
  `publication_date`, `authorships[].author.display_name`, `locations[].landing_page_url` and, because abstracts
  cannot be redistributed as text, `abstract_inverted_index`: each word mapped to the positions it occupies
  ("Work object"); `reconstruct_abstract` turns it back into text.
- Errors: 400 (bad filter/parameter, not retried), 403/429 (rate limit or daily budget spent: retried, honouring
  `Retry-After`), 500 (retry with backoff); the body is `{"error": ..., "message": ...}` ("Error Handling").
- At most 100 requests per second for everyone, and a daily allowance; an `api_key` parameter raises the allowance
  and `mailto` identifies the caller ("Rate limits and authentication"). The key is a secret parameter here: never
  part of the cache key, an error message or a log line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from scientist.tools.scholarly import (
    JsonSource,
    Record,
    arxiv_id_of,
    env_options,
    make_record,
    parse_date,
    validated,
)

OPENALEX_API = "https://api.openalex.org"
MAX_PER_PAGE = 200


class _Author(BaseModel):
    display_name: str | None = None


class _Authorship(BaseModel):
    author: _Author = Field(default_factory=_Author)


class _Location(BaseModel):
    landing_page_url: str | None = None
    pdf_url: str | None = None


class _Work(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    doi: str | None = None
    title: str | None = None
    display_name: str | None = None
    publication_date: str | None = None
    publication_year: int | None = None
    authorships: list[_Authorship] = Field(default_factory=list)
    abstract_inverted_index: dict[str, list[int]] | None = None
    locations: list[_Location] = Field(default_factory=list)
    primary_location: _Location | None = None


class _Meta(BaseModel):
    count: int | None = None
    page: int | None = None
    per_page: int | None = None


class _WorkList(BaseModel):
    meta: _Meta
    results: list[_Work]


def reconstruct_abstract(inverted: dict[str, list[int]] | None) -> str:
    """The abstract's text from OpenAlex's inverted index (word → positions): each word put at its positions."""
    if not inverted:
        return ""
    placed: dict[int, str] = {}
    for word, positions in inverted.items():
        for position in positions:
            placed[position] = word
    return " ".join(placed[position] for position in sorted(placed))


class OpenAlex(JsonSource):
    name = "openalex"
    default_url = OPENALEX_API
    min_interval_s = 0.1  # documented ceiling: 100 requests per second; a tenth of that is polite
    secret_params: ClassVar[frozenset[str]] = frozenset({"api_key"})

    @classmethod
    def from_env(cls, **overrides: Any) -> OpenAlex:
        """`SCIENTIST_OPENALEX_URL`, `_MIN_INTERVAL_S`, `SCIENTIST_OPENALEX_API_KEY` and
        `SCIENTIST_CONTACT_EMAIL` (sent as `mailto`), then `overrides`."""
        params: dict[str, str] = {}
        if key := os.environ.get("SCIENTIST_OPENALEX_API_KEY", "").strip():
            params["api_key"] = key
        if mailto := os.environ.get("SCIENTIST_CONTACT_EMAIL", "").strip():
            params["mailto"] = mailto
        return cls(params=params, **env_options("OPENALEX", **overrides))

    def requests_for(self, query: str, max_results: int, since: int | None) -> Iterable[tuple[str, dict[str, str]]]:
        per_page = min(max_results, MAX_PER_PAGE)
        page = 1
        while (page - 1) * per_page < max_results:
            params = {"search": query, "per-page": str(per_page), "page": str(page)}
            if since:
                params["filter"] = f"from_publication_date:{since:04d}-01-01"
            yield "/works", params
            page += 1

    def parse(self, data: Any) -> tuple[list[Record], bool]:
        answer: _WorkList = validated(_WorkList, data, self.name)
        records = []
        for work in answer.results:
            locations = [*([work.primary_location] if work.primary_location else []), *work.locations]
            arxiv_id = arxiv_id_of(work.doi) or next(
                (found for location in locations if (found := arxiv_id_of(location.landing_page_url))), None
            )
            record = make_record(
                self.name,
                native_id=work.id.rsplit("/", 1)[-1],
                title=work.title or work.display_name,
                abstract=reconstruct_abstract(work.abstract_inverted_index),
                authors=[a.author.display_name for a in work.authorships if a.author.display_name],
                doi=work.doi,
                arxiv_id=arxiv_id,
                published=parse_date(work.publication_date) or parse_date(str(work.publication_year or "")),
            )
            if record is not None:
                pdf = next((location.pdf_url for location in locations if location.pdf_url), None)
                records.append(record.model_copy(update={"pdf_url": pdf}) if pdf else record)
        per_page = answer.meta.per_page or len(answer.results)
        seen = (answer.meta.page or 1) * per_page
        more = bool(answer.results) and (answer.meta.count is None or seen < answer.meta.count)
        return records, more
