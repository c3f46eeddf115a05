"""Which references a paper may carry: only papers the run's searches retrieved, each optionally re-checked.

Why: the bibliography is the one part of a paper a reader trusts without reading it. The writer's references
come from the idea's related work (index metadata); here each must also be among the papers the novelty node's
searches retrieved (a stray entry, e.g. from an edited checkpoint, is dropped and audited as `citation_dropped`),
and with `citation_check = "on"` each is looked up again at a scholarly source and the outcome audited as
`citation_check` (verified / mismatch / unverified), so a reader of the audit log knows which entries were checked.
`citation_check = "auto"` first decides once whether any source is reachable (offline setting, circuit breakers,
one short connection probe): with none, every reference is audited unverified with that reason and nothing is asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.paper.citations import Reference, bib_key

if TYPE_CHECKING:
    from scientist.tools.citecheck import ReferenceChecker

ACTOR = "pipeline"
OFFLINE_REASON = "the literature search is offline (SCIENTIST_ARXIV_OFFLINE)"


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
            ctx.audit.emit(
                audit_events.CitationDropped(
                    citation=reference.key,
                    reason="not retrieved by the run's novelty or related-work search",
                ),
                ACTOR,
            )
            continue
        kept.append(reference)
    mode = ctx.settings.citation_check
    if mode == "off" or not kept:
        return kept, None if mode == "off" else []
    from scientist.tools.citecheck import ReferenceChecker, reachable, unverified
    from scientist.tools.crossref import Crossref
    from scientist.tools.literature import Literature
    from scientist.tools.sources import build_sources

    sources, crossref = build_sources(), Crossref.from_env()
    if mode == "on":
        checks = _checked(ctx, kept, ReferenceChecker(sources, crossref))
        return kept, checks
    offline = OFFLINE_REASON if Literature.from_env().offline else None
    route = reachable(sources, crossref, offline=offline)
    if not route.any:
        why = f"no literature source is reachable ({route.reason()})"
        ctx.progress("write", f"{len(kept)} reference(s) not checked, each marked unverified: {why}")
        outcomes = [outcome.model_dump(mode="json") for outcome in unverified(kept, f"not checked: {why}")]
        for outcome in outcomes:
            ctx.audit.emit(audit_events.CitationCheck(**outcome), ACTOR)
        return kept, outcomes
    if route.skipped:
        ctx.progress("write", f"citation check skips {route.reason()}")
    return kept, _checked(ctx, kept, route.checker(sources.breaker_threshold))


def _checked(ctx: RunContext, kept: list[Reference], checker: ReferenceChecker) -> list[dict[str, Any]]:
    ctx.progress("write", f"checking {len(kept)} reference(s) against the literature sources")
    outcomes = []
    for reference in kept:
        outcome = checker.check(reference).model_dump(mode="json")
        ctx.audit.emit(audit_events.CitationCheck(**outcome), ACTOR)
        outcomes.append(outcome)
    return outcomes
