"""Re-check a paper's references against a scholarly source before they are printed.

Why: a reference comes from the paper index, but the index may hold a record a source later corrected, or one
imported from a file. Before the bibliography goes out, each entry is looked up again: by DOI at Crossref when it
has one, else by searching the configured sources for its title and picking the record with the same arXiv id or
DOI (or, lacking both, the same normalised title). Title, authors and year are compared:
`verified` (they match), `mismatch` (the source's record disagrees; the fields are named), `unverified` (no
source answered, or none returned the paper). Nothing here edits a reference: the caller audits the outcome.

`reachable_checker` decides once, before any lookup, which sources can be asked at all (not offline, circuit breaker
closed, a connection to the host opens within a short timeout), so that with no route every reference is marked
unverified for one stated reason instead of each paying its own timeouts.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from scientist.paper.citations import Reference
from scientist.tools.crossref import Crossref
from scientist.tools.literature import LiteratureError
from scientist.tools.reachability import DEFAULT_TIMEOUT_S, probe
from scientist.tools.scholarly import (
    ArxivSource,
    JsonSource,
    Record,
    Source,
    SourceResponseError,
    Sources,
    SourceUnavailableError,
    arxiv_id_of,
    breaker,
    normalize_title,
)

Status = Literal["verified", "mismatch", "unverified"]
TITLE_SIMILARITY = 0.9  # difflib ratio of normalised titles: punctuation, case and accents already folded
YEAR_SLACK = 1  # a preprint and its publication are often a year apart
SEARCH_RESULTS = 5


class ReferenceCheck(BaseModel):
    """One reference's outcome. `citation` is the BibTeX key (an audit field named `key` would be redacted)."""

    citation: str
    status: Status
    source: str | None = Field(default=None, description="the source whose record was compared")
    mismatched: list[str] = Field(default_factory=list, description="title | authors | year")
    reason: str = ""


def _surnames(authors: Sequence[str]) -> set[str]:
    """Last names folded to ASCII lowercase ('Lovelace, Ada' and 'Ada Lovelace' agree)."""
    names = set()
    for author in authors:
        text = unicodedata.normalize("NFKD", author)
        text = "".join(char for char in text if not unicodedata.combining(char)).lower()
        family = text.split(",")[0] if "," in text else (text.split() or [""])[-1]
        family = re.sub(r"[^a-z-]", "", family)
        if family:
            names.add(family)
    return names


def compare(reference: Reference, record: Record) -> list[str]:
    """The fields on which `record` disagrees with `reference` (empty: they match). A field one side lacks is
    not held against it."""
    wrong = []
    ours, theirs = normalize_title(reference.title), normalize_title(record.paper.title)
    if ours != theirs and difflib.SequenceMatcher(None, ours, theirs).ratio() < TITLE_SIMILARITY:
        wrong.append("title")
    mine, found = _surnames(reference.authors), _surnames(record.paper.authors)
    if mine and found and (not mine & found or len(mine & found) < min(len(mine), len(found)) / 2):
        wrong.append("authors")
    year = int(str(reference.year)) if str(reference.year or "").strip().isdigit() else None
    published = record.paper.published.year if record.paper.published else None
    if year is not None and published is not None and abs(year - published) > YEAR_SLACK:
        wrong.append("year")
    return wrong


class ReferenceChecker:
    """Checks references against `crossref` (DOI lookups) and `sources` (title searches); either may be None.
    DOI lookups share Crossref's process-wide circuit breaker: after it opens, the remaining references go straight
    to the title search instead of each paying Crossref's retries."""

    def __init__(self, sources: Sources | None, crossref: Crossref | None = None) -> None:
        self.sources = sources
        self.crossref = crossref

    def check(self, reference: Reference) -> ReferenceCheck:
        problems: list[str] = []
        record, source = None, None
        threshold = self.sources.breaker_threshold if self.sources is not None else 3
        guard = breaker(self.crossref.name, threshold) if self.crossref is not None else None
        if reference.doi and self.crossref is not None and guard is not None and guard.open:
            problems.append(f"crossref skipped: circuit breaker open (last: {guard.reason})")
        elif reference.doi and self.crossref is not None and guard is not None:
            try:
                record = self.crossref.lookup(reference.doi)
                source = self.crossref.name
            except (SourceUnavailableError, SourceResponseError) as err:  # the source failed, not the reference
                guard.failure(err.message)
                problems.append(f"crossref: {err.message}")
            except LiteratureError as err:
                problems.append(f"crossref: {err.message}")
            else:
                guard.success()
            if record is None and not problems:
                problems.append(f"crossref does not know DOI {reference.doi}")
        if record is None and self.sources is not None:
            try:
                result = self.sources.search(reference.title, SEARCH_RESULTS)
            except LiteratureError as err:
                problems.append(err.message)
            else:
                record = self._same_paper(reference, result.records)
                source = record.sources[0] if record is not None and record.sources else None
                if record is None:
                    asked = ", ".join(outcome.name for outcome in result.outcomes if not outcome.error) or "none"
                    problems.append(f"no source returned this paper (answered: {asked})")
        if record is None:
            reason = "; ".join(problems) or "no source is configured"
            return ReferenceCheck(citation=reference.key, status="unverified", reason=reason[:500])
        wrong = compare(reference, record)
        if wrong:
            return ReferenceCheck(
                citation=reference.key,
                status="mismatch",
                source=source,
                mismatched=wrong,
                reason=f"{source} has {record.paper.title!r} ({_year(record)}) by {_authors(record)}"[:500],
            )
        return ReferenceCheck(citation=reference.key, status="verified", source=source)

    def check_all(self, references: Sequence[Reference]) -> list[ReferenceCheck]:
        return [self.check(reference) for reference in references]

    @staticmethod
    def _same_paper(reference: Reference, records: Sequence[Record]) -> Record | None:
        """The record for the same paper: same DOI or arXiv id when the reference has one, else the same title."""
        doi, arxiv = reference.doi, arxiv_id_of(reference.arxiv_id)
        if doi or arxiv:
            for record in records:
                if (doi and record.doi == doi) or (arxiv and record.arxiv_id == arxiv):
                    return record
            return None
        title = normalize_title(reference.title)
        return next((record for record in records if normalize_title(record.paper.title) == title), None)


def _year(record: Record) -> str:
    return str(record.paper.published.year) if record.paper.published else "no year"


def _authors(record: Record) -> str:
    names = record.paper.authors
    return ", ".join(names[:3]) + (" et al." if len(names) > 3 else "") if names else "no authors"


def unverified(references: Sequence[Reference], reason: str) -> list[ReferenceCheck]:
    """Every reference marked unverified for one reason (nothing was asked)."""
    return [ReferenceCheck(citation=ref.key, status="unverified", reason=reason[:500]) for ref in references]


@dataclass
class Reachable:
    """Which sources a check may ask, decided once: `sources` (title search) and `crossref` (DOI lookups) have a
    route; `skipped` maps each left-out source to why."""

    sources: list[Source] = field(default_factory=list)
    crossref: Crossref | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    offline: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.sources) or self.crossref is not None

    def reason(self) -> str:
        if self.offline is not None:
            return self.offline
        return "; ".join(f"{name}: {why}" for name, why in self.skipped.items()) or "no source is configured"

    def checker(self, breaker_threshold: int = 3) -> ReferenceChecker:
        title_search = Sources(self.sources, breaker_threshold=breaker_threshold) if self.sources else None
        return ReferenceChecker(title_search, self.crossref)


def _url(source: Source | Crossref) -> str | None:
    if isinstance(source, JsonSource):
        return source.base_url
    if isinstance(source, ArxivSource):
        return source.literature.base_url
    return None


def reachable(
    sources: Sources | None,
    crossref: Crossref | None,
    *,
    offline: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Reachable:
    """The sources that can be asked: none when `offline` says why (no connection is attempted), else those whose
    circuit breaker is closed and whose host (or proxy) accepts a connection within `timeout_s` (one parallel
    probe for all of them, see scientist.tools.reachability). Not a request: nothing is looked up here."""
    candidates: list[tuple[str, Source | Crossref]] = [("crossref", crossref)] if crossref is not None else []
    candidates += [(source.name, source) for source in (sources.sources if sources is not None else [])]
    threshold = sources.breaker_threshold if sources is not None else 3
    result = Reachable()
    if offline is not None:
        return Reachable(skipped={name: offline for name, _ in candidates}, offline=offline)
    urls: dict[str, str] = {}
    for name, source in candidates:
        guard = breaker(name, threshold)
        url = _url(source)
        if guard.open:
            result.skipped[name] = f"circuit breaker open after {guard.failures} failures (last: {guard.reason})"
        elif isinstance(source, ArxivSource) and source.literature.offline:
            result.skipped[name] = f"offline ({source.literature.offline_reason})"
        elif url is None:
            result.skipped[name] = "no URL to probe"
        else:
            urls[name] = url
    answers = probe(urls, timeout_s) if urls else {}
    for name, why in answers.items():
        if why is not None:
            result.skipped[name] = f"unreachable ({why})"
    ok = {name for name, why in answers.items() if why is None}
    result.crossref = crossref if crossref is not None and "crossref" in ok else None
    result.sources = [source for name, source in candidates[1 if crossref is not None else 0 :] if name in ok]
    return result
