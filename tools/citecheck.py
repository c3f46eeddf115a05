"""Re-check a paper's references against a scholarly source before they are printed.

Why: a reference comes from the paper index, but the index may hold a record a source later corrected, or one
imported from a file. Before the bibliography goes out, each entry is looked up again: by DOI at Crossref when it
has one, else by searching the configured sources for its title and picking the record with the same arXiv id or
DOI (or, lacking both, the same normalised title). Title, authors and year are compared:
`verified` (they match), `mismatch` (the source's record disagrees; the fields are named), `unverified` (no
source answered, or none returned the paper). Nothing here edits a reference: the caller audits the outcome.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from scientist.citations import Reference
from scientist.tools.crossref import Crossref
from scientist.tools.literature import LiteratureError
from scientist.tools.scholarly import Record, Sources, arxiv_id_of, normalize_title

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
    """Checks references against `crossref` (DOI lookups) and `sources` (title searches); either may be None."""

    def __init__(self, sources: Sources | None, crossref: Crossref | None = None) -> None:
        self.sources = sources
        self.crossref = crossref

    def check(self, reference: Reference) -> ReferenceCheck:
        problems: list[str] = []
        record, source = None, None
        if reference.doi and self.crossref is not None:
            try:
                record = self.crossref.lookup(reference.doi)
                source = self.crossref.name
            except LiteratureError as err:
                problems.append(f"crossref: {err.message}")
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
