"""References for a paper: BibTeX built only from literature-index metadata, and the model's `\\cite` keys checked.

Why: a model (small ones especially) invents references. The paper may only cite papers the novelty check found in
the index (the idea's `related_work`, with their arXiv metadata); any other key the model writes is removed from
the text and reported, so an invented reference can never be rendered.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

# \cite{a,b}, \citep{...}, \citet{...} (optionally with a [note]); the keys are checked, the rest is dropped.
CITE = re.compile(r"\\cite[pt]?\*?(?:\[[^\]\n]{0,80}\])?\{(?P<keys>[^{}\n]{0,400})\}")
_KEY_CHARS = re.compile(r"[^A-Za-z0-9:._-]")
_BIB_UNSAFE = re.compile(r"[{}\\%#&$^~_]")


class Reference(BaseModel):
    """One citable paper, from the index's metadata (never from the model)."""

    key: str
    title: str
    authors: list[str] = []
    year: int | str | None = None
    url: str = ""
    arxiv_id: str | None = None
    doi: str | None = None


def bib_key(paper_id: str) -> str:
    """The citation key of an index paper: its id with characters BibTeX keys cannot hold replaced."""
    return _KEY_CHARS.sub("-", paper_id.strip())


def references_from_related(related: Iterable[Mapping[str, Any]]) -> list[Reference]:
    """The idea's related work (papers the novelty check found in the index) as references, in order, no duplicates."""
    seen: set[str] = set()
    out = []
    for paper in related:
        if not paper.get("id") or not paper.get("title"):
            continue
        key = bib_key(str(paper["id"]))
        if key in seen:
            continue
        seen.add(key)
        arxiv = paper.get("source", "arxiv") == "arxiv"
        out.append(
            Reference(
                key=key,
                title=" ".join(str(paper["title"]).split()),
                authors=[" ".join(str(a).split()) for a in paper.get("authors") or []],
                year=paper.get("year"),
                url=str(paper.get("url") or ""),
                arxiv_id=str(paper["id"]) if arxiv else None,
                doi=str(paper["doi"]) if paper.get("doi") else None,
            )
        )
    return out


def _bib_field(text: str) -> str:
    """A field value BibTeX and LaTeX both read literally: specials dropped, braces never unbalanced."""
    return " ".join(_BIB_UNSAFE.sub(" ", text).split())


def to_bibtex(references: Sequence[Reference]) -> str:
    """references.bib: one @misc (arXiv: eprint fields) per reference."""
    entries = []
    for ref in references:
        fields = [("title", "{" + _bib_field(ref.title) + "}")]
        if ref.authors:
            fields.append(("author", " and ".join(_bib_field(a) for a in ref.authors if _bib_field(a))))
        if ref.year:
            fields.append(("year", _bib_field(str(ref.year))))
        if ref.arxiv_id:
            fields += [("eprint", _bib_field(ref.arxiv_id)), ("archivePrefix", "arXiv")]
            fields.append(("howpublished", f"arXiv:{_bib_field(ref.arxiv_id)}"))
        if ref.doi and re.fullmatch(r"10\.[0-9]{4,9}/[A-Za-z0-9._;()/:-]+", ref.doi):
            fields.append(("doi", ref.doi))
        if ref.url and re.fullmatch(r"https?://[A-Za-z0-9._~:/?=&+-]+", ref.url):
            fields.append(("url", ref.url.replace("%", "")))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields if value)
        entries.append(f"@misc{{{ref.key},\n{body}\n}}")
    return "\n\n".join(entries) + ("\n" if entries else "")


class CitationCheck(BaseModel):
    text: str
    kept: list[str]
    removed: list[str]


def check_citations(text: str, known: Collection[str]) -> CitationCheck:
    """`text` with every \\cite key not in `known` removed (a cite left with no key disappears), and the keys."""
    kept: list[str] = []
    removed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        keys = [key.strip() for key in match["keys"].split(",") if key.strip()]
        good = [key for key in keys if key in known]
        kept.extend(key for key in good if key not in kept)
        removed.extend(key for key in keys if key not in known and key not in removed)
        return f"\\cite{{{','.join(good)}}}" if good else ""

    cleaned = CITE.sub(replace, text)
    cleaned = re.sub(r"[ \t]+([.,;:)])", r"\1", cleaned) if removed else cleaned
    return CitationCheck(text=cleaned, kept=kept, removed=removed)


def cited_keys(texts: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for text in texts:
        for match in CITE.finditer(text):
            keys.extend(k.strip() for k in match["keys"].split(",") if k.strip() and k.strip() not in keys)
    return keys
