"""Crossref's REST API as a scholarly Source and a DOI metadata lookup (https://api.crossref.org/swagger-ui,
https://www.crossref.org/documentation/retrieve-metadata/rest-api/).

The rules this relies on, from Crossref's documentation:
- `GET /works?query=...&rows=&offset=` searches bibliographic metadata (titles, authors, ...: not full text);
  `rows` is at most 1,000 and `offset` at most 10,000; `filter=from-pub-date:YYYY` restricts the publication date
  ("REST API filters").
- `GET /works/{doi}` is one DOI's metadata; an unknown DOI is 404.
- Every answer is `{"status": "ok", "message-type": "work-list"|"work", "message": ...}`; a list's message holds
  `total-results` and `items`; a work has `DOI`, `title` (a list), `author[]` (`given`, `family` or `name`),
  `abstract` (JATS XML, often absent), `issued.date-parts` ([[year, month, day]], parts optional) and `URL`.
- Anyone may use it without a key; `mailto` (the "polite" pool) identifies the caller. The limits in force are
  advertised in the `x-rate-limit-limit` and `x-rate-limit-interval` headers of each answer, and this client slows
  to them; 429 and 503 mean back off (with `Retry-After` when given).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from scientist.tools.scholarly import (
    JsonSource,
    Record,
    SourceError,
    env_options,
    make_record,
    normalize_doi,
    validated,
)

CROSSREF_API = "https://api.crossref.org"
MAX_ROWS = 1000
MAX_OFFSET = 10_000


class _Author(BaseModel):
    given: str | None = None
    family: str | None = None
    name: str | None = None

    def display(self) -> str | None:
        if self.name:
            return self.name
        return " ".join(part for part in (self.given, self.family) if part) or None


class _Date(BaseModel):
    date_parts: list[list[int | None]] = Field(default_factory=list, alias="date-parts")


class _Work(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    DOI: str
    title: list[str] = Field(default_factory=list)
    author: list[_Author] = Field(default_factory=list)
    abstract: str | None = None
    issued: _Date | None = None
    URL: str | None = None


class _WorkListMessage(BaseModel):
    total_results: int | None = Field(default=None, alias="total-results")
    items: list[_Work]


class _WorkList(BaseModel):
    status: str
    message_type: str = Field(alias="message-type")
    message: _WorkListMessage


class _OneWork(BaseModel):
    status: str
    message_type: str = Field(alias="message-type")
    message: _Work


def strip_jats(text: str | None) -> str:
    """Crossref abstracts are JATS XML (`<jats:p>...</jats:p>`): the text without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text or "")).strip()


def _issued(work: _Work) -> Any:
    from datetime import UTC, datetime

    parts = work.issued.date_parts[0] if work.issued and work.issued.date_parts else []
    numbers = [part for part in parts if isinstance(part, int)]
    if not numbers:
        return None
    year, month, day = [*numbers, 1, 1][:3]
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


class Crossref(JsonSource):
    name = "crossref"
    default_url = CROSSREF_API
    min_interval_s = 0.2  # until the first answer's x-rate-limit-* headers say otherwise

    @classmethod
    def from_env(cls, **overrides: Any) -> Crossref:
        """`SCIENTIST_CROSSREF_URL`, `SCIENTIST_CROSSREF_MIN_INTERVAL_S`, `SCIENTIST_CONTACT_EMAIL` (`mailto`)."""
        params = {"mailto": mailto} if (mailto := os.environ.get("SCIENTIST_CONTACT_EMAIL", "").strip()) else {}
        return cls(params=params, **env_options("CROSSREF", **overrides))

    def on_response(self, headers: Mapping[str, str]) -> None:
        """Slow down to the advertised limit: `x-rate-limit-limit` requests per `x-rate-limit-interval` ('1s')."""
        limit, interval = headers.get("x-rate-limit-limit"), headers.get("x-rate-limit-interval")
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*s?\s*", interval or "")
        if limit and limit.strip().isdigit() and int(limit) > 0 and match:
            self.min_interval_s = max(self.min_interval_s, float(match.group(1)) / int(limit))

    def requests_for(self, query: str, max_results: int, since: int | None) -> Iterable[tuple[str, dict[str, str]]]:
        rows = min(max_results, MAX_ROWS)
        offset = 0
        while offset < max_results and offset <= MAX_OFFSET:
            params = {"query": query, "rows": str(rows), "offset": str(offset)}
            if since:
                params["filter"] = f"from-pub-date:{since}"
            yield "/works", params
            offset += rows

    def parse(self, data: Any) -> tuple[list[Record], bool]:
        answer: _WorkList = validated(_WorkList, data, self.name)
        if answer.status != "ok" or answer.message_type != "work-list":
            raise _shape_error(answer.status, answer.message_type, "work-list")
        records = [record for work in answer.message.items if (record := self._record(work)) is not None]
        return records, bool(answer.message.items)

    def lookup(self, doi: str) -> Record | None:
        """One DOI's metadata (None: Crossref does not know the DOI)."""
        normalized = normalize_doi(doi)
        if normalized is None:
            raise SourceError(f"{doi!r} is not a DOI", hint="a DOI starts with 10. and has a '/', e.g. 10.1000/xyz")
        try:
            data = self.get_json(f"/works/{quote(normalized, safe='/')}", {}, time.monotonic() + self.deadline_s)
        except SourceError as err:
            if "HTTP 404" in err.message:
                return None
            raise
        answer: _OneWork = validated(_OneWork, data, self.name)
        if answer.status != "ok" or answer.message_type != "work":
            raise _shape_error(answer.status, answer.message_type, "work")
        return self._record(answer.message)

    def _record(self, work: _Work) -> Record | None:
        return make_record(
            self.name,
            native_id=work.DOI,
            title=work.title[0] if work.title else None,
            abstract=strip_jats(work.abstract),
            authors=[name for author in work.author if (name := author.display())],
            doi=work.DOI,
            published=_issued(work),
            url=work.URL,
        )


def _shape_error(status: str, message_type: str, expected: str) -> SourceError:
    from scientist.tools.scholarly import SourceResponseError

    return SourceResponseError(
        f"crossref answered status {status!r}, message-type {message_type!r} (expected 'ok', {expected!r})",
        hint="the API may have changed or a proxy answered; the next source is asked instead",
    )
