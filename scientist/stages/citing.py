"""Which references a paper may carry: only papers the run's searches retrieved, each optionally re-checked.

Why: the bibliography is the one part of a paper a reader trusts without reading it. The writer's references
come from the idea's related work (index metadata); here each must also be among the papers the novelty node's
searches retrieved (a stray entry, e.g. from an edited checkpoint, is dropped and audited as `citation_dropped`),
and with `citation_check = "on"` each is looked up again at a scholarly source and the outcome audited as
`citation_check` (verified / mismatch / unverified), so a reader of the audit log knows which entries were checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scientist.citations import Reference, bib_key
from scientist.context import RunContext

ACTOR = "pipeline"


def retrieved_ids(novelty: Iterable[Mapping[str, Any]] | None) -> set[str] | None:
    """The citation keys of every paper the novelty records retrieved (their `top_k`); None without records."""
    if novelty is None:
        return None
    keys = set()
    for record in novelty:
        for paper in record.get("top_k") or []:
            if isinstance(paper, Mapping) and paper.get("id"):
                keys.add(bib_key(str(paper["id"])))
    return keys


def checked_references(
    ctx: RunContext, references: list[Reference], retrieved: set[str] | None
) -> tuple[list[Reference], list[dict[str, Any]] | None]:
    """(the references the paper may cite, each one's check outcome or None when `citation_check` is off)."""
    kept = []
    for reference in references:
        if retrieved is not None and reference.key not in retrieved:
            ctx.audit.append(
                "citation_dropped",
                ACTOR,
                {"citation": reference.key, "reason": "not retrieved by the run's novelty or related-work search"},
            )
            continue
        kept.append(reference)
    if ctx.settings.citation_check != "on" or not kept:
        return kept, None if ctx.settings.citation_check != "on" else []
    from scientist.tools.citecheck import ReferenceChecker
    from scientist.tools.crossref import Crossref
    from scientist.tools.sources import build_sources

    ctx.progress("write", f"checking {len(kept)} reference(s) against the literature sources")
    checker = ReferenceChecker(build_sources(), Crossref.from_env())
    outcomes = []
    for reference in kept:
        outcome = checker.check(reference)
        ctx.audit.append("citation_check", ACTOR, outcome.model_dump(mode="json"))
        outcomes.append(outcome.model_dump(mode="json"))
    return kept, outcomes
