"""Is an idea new? The AI-Scientist loop (the model proposes searches, then decides), made accountable.

What is added to that loop: results go into the local index and the evidence is the *nearest papers by embedding*
to the idea (not whatever a keyword search happened to return); the verdict stores the scores, every query and its
outcome, and the model's reasoning; the model may only cite papers it was shown (the schema offers their ids as an
enum, and invented ids are dropped and flagged); a near-duplicate (cosine ≥ `duplicate_threshold`) is never passed
as novel whatever the model says; and offline the check still runs on the index and the search cache, saying so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, create_model, model_validator

from scientist.audit import events as audit_events
from scientist.errors import ScientistError, StructuredOutputError
from scientist.tools.index import MAX_SEARCH_CHARS, Hit, PaperIndex
from scientist.tools.literature import Literature, LiteratureError, normalize_id

if TYPE_CHECKING:
    from scientist.audit.log import AuditLog
    from scientist.llm.gateway import LLMGateway

STAGE = "novelty"
MAX_QUERIES_PER_ROUND = 3
MAX_QUERY_CHARS = 100
MAX_CITED = 3
PROMPT_ABSTRACT_CHARS = 300
PROMPT_PAPERS = 5
DecidedBy = Literal["model", "similarity_guard", "fallback_threshold", "no_evidence", "unchecked"]
NoveltyPolicy = Literal["filter", "revise", "keep", "require"]
Label = Literal["novel", "not_novel", "unchecked"]
UNCHECKED_REASONING = (
    "novelty was not checked: the paper index holds no related paper and no literature search got an answer"
    " (offline, or every source failed); build the index with `scientist index build`"
)


class NoveltyInputError(ScientistError):
    """The idea has nothing to search for (no title and no hypothesis)."""


# -- what the model fills in (short caps: the default model is small and has a 4k context) ------------------------
SearchQuery = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=MAX_QUERY_CHARS)]


class NoveltyQueries(BaseModel):
    """One round of proposed arXiv searches; an empty list means 'searching more will not help'."""

    queries: list[SearchQuery] = Field(default_factory=list, max_length=MAX_QUERIES_PER_ROUND)


class NoveltyDecision(BaseModel):
    """The model's judgement. `closest` is offered as an enum of the shown ids (see `decision_schema`)."""

    reasoning: str = Field(min_length=1, max_length=500)
    closest: list[Annotated[str, StringConstraints(max_length=60)]] = Field(default_factory=list, max_length=MAX_CITED)
    novel: bool


def decision_schema(ids: Sequence[str]) -> type[NoveltyDecision]:
    """NoveltyDecision whose JSON schema lists the shown ids as the only choices for `closest`.

    The enum lives in the schema only (grammar-constrained and strict-schema models cannot invent an id); parsing
    still accepts any string, so one bad id costs that id, not the whole decision.
    """
    item = Annotated[str, StringConstraints(max_length=60), Field(json_schema_extra={"enum": list(ids)})]
    model: type[NoveltyDecision] = create_model(
        "NoveltyDecision",
        __base__=NoveltyDecision,
        closest=(list[item], Field(default_factory=list, max_length=MAX_CITED)),
    )
    return model


# -- the verdict ----------------------------------------------------------------------------------------------------
class ScoredPaper(BaseModel):
    id: str
    version: int | None = None
    title: str
    score: float = Field(description="cosine similarity to the idea")
    url: str | None = None


class SearchRecord(BaseModel):
    """One literature search the check issued and what came of it."""

    round: int
    query: str
    proposed_by: Literal["model", "fallback"]
    results: int = 0
    new_papers: int = 0
    requests: int = 0
    cached: bool = False
    offline: bool = False
    error: str | None = None


class NoveltyVerdict(BaseModel):
    """Everything the decision rested on, so a reader can re-check it."""

    novel: bool
    decided_by: DecidedBy
    model_novel: bool | None = Field(None, description="The model's own answer (None: it gave none)")
    max_similarity: float
    duplicate_threshold: float | None
    top_k: list[ScoredPaper]
    queries: list[str]
    searches: list[SearchRecord]
    rounds: int
    offline: bool = Field(description="True: arXiv was unreachable or search disabled (index and cache only)")
    fresh_search: bool = Field(description="True: at least one search got a fresh answer from arXiv (not the cache)")
    reasoning: str
    cited_ids: list[str]
    invented_ids: list[str] = Field(default_factory=list, description="Ids the model cited but was never shown")
    index_papers: int
    idea_index: int | None = None
    idea_title: str = ""
    notes: list[str] = Field(default_factory=list)

    @property
    def unchecked(self) -> bool:
        """Nothing to compare with: an empty index and no search answered. Neither novel nor refuted."""
        return self.decided_by == "unchecked"

    @property
    def label(self) -> Label:
        return "unchecked" if self.unchecked else ("novel" if self.novel else "not_novel")

    @model_validator(mode="after")
    def _cited_ids_were_retrieved(self) -> NoveltyVerdict:
        if self.unchecked and self.novel:
            raise ValueError("an unchecked verdict cannot say novel")
        shown = {paper.id for paper in self.top_k}
        stray = [paper_id for paper_id in self.cited_ids if paper_id not in shown]
        if stray:
            raise ValueError(f"cited ids {stray} are not among the retrieved papers")
        return self


# -- the loop -------------------------------------------------------------------------------------------------------
def judge_novelty(
    gateway: LLMGateway,
    idea: dict[str, Any],
    index: PaperIndex,
    literature: Literature | None,
    *,
    rounds: int = 2,
    k: int = 5,
    queries_per_round: int = 2,
    results_per_query: int = 10,
    duplicate_threshold: float | None = 0.9,
    audit: AuditLog | None = None,
    progress: Callable[[str], None] | None = None,
) -> NoveltyVerdict:
    """Judge one idea (a dict with at least `title` or `hypothesis`; `index` picks the sampling seed).

    `literature=None` (or an offline Literature) judges against the index alone. Model failures do not stop the
    run: a failed query proposal falls back to the idea's title, a failed decision to the similarity threshold;
    both are recorded in `notes` and `decided_by`.
    """
    title = _clip(str(idea.get("title") or ""), 200)
    hypothesis = _clip(str(idea.get("hypothesis") or ""), 500)
    if not title and not hypothesis:
        raise NoveltyInputError("the idea has neither a title nor a hypothesis to search for")
    idea_text = _clip(
        " ".join(part for part in (title, hypothesis, str(idea.get("experiment_plan") or "")) if part), MAX_SEARCH_CHARS
    )
    sample = int(idea.get("index") or 0)
    say = progress or (lambda message: None)
    notes: list[str] = []
    issued: list[str] = []
    searches: list[SearchRecord] = []
    hits = index.search(idea_text, k=k)
    rounds_run = 0

    if literature is None:
        notes.append("literature search disabled: judged against the local index only")
    for round_number in range(1, rounds + 1):
        if literature is None:
            break
        proposed_by: Literal["model", "fallback"] = "model"
        try:
            proposal = gateway.structured(
                "novelty_queries",
                {
                    "title": title,
                    "hypothesis": hypothesis,
                    "previous": issued,
                    "papers": [{"title": _clip(hit.paper.title, 120)} for hit in hits[:3]],
                    "max_queries": queries_per_round,
                },
                NoveltyQueries,
                stage=STAGE,
                sample_index=sample,
            )
            queries = proposal.queries
        except StructuredOutputError as err:
            notes.append(f"round {round_number}: no valid query proposal ({_clip(str(err), 200)})")
            queries = []
        fresh = _new_queries(queries, issued)[:queries_per_round]
        if not fresh and round_number == 1:  # never judge without searching at all: search for the title
            notes.append("round 1: the model proposed no usable query; searched for the idea's title instead")
            fresh, proposed_by = _new_queries([_clip(title or hypothesis, MAX_QUERY_CHARS)], issued), "fallback"
        rounds_run = round_number
        if not fresh:
            break
        for query in fresh:
            issued.append(query)
            say(f"round {round_number}: searching arXiv for {query!r}")
            record = _search(literature, index, query, round_number, proposed_by, results_per_query)
            searches.append(record)
            if audit is not None:
                audit.emit(audit_events.LiteratureSearch(**record.model_dump(mode="json")), "novelty")
        hits = index.search(idea_text, k=k)

    offline = literature is None or literature.offline or any(record.offline for record in searches)
    fresh_search = any(record.requests > 0 and not record.offline and record.error is None for record in searches)
    if literature is not None and literature.offline:
        notes.append(f"arXiv unreachable ({literature.offline_reason}): judged on the index and the search cache")
    return _decide(
        gateway,
        hits,
        title=title,
        hypothesis=hypothesis,
        sample=sample,
        duplicate_threshold=duplicate_threshold,
        base={
            "queries": issued,
            "searches": searches,
            "rounds": rounds_run,
            "offline": offline,
            "fresh_search": fresh_search,
            "index_papers": index.count(),
            "idea_index": idea.get("index"),
            "idea_title": title,
        },
        notes=notes,
    )


def _search(
    literature: Literature,
    index: PaperIndex,
    query: str,
    round_number: int,
    proposed_by: Literal["model", "fallback"],
    max_results: int,
) -> SearchRecord:
    record = SearchRecord(round=round_number, query=query, proposed_by=proposed_by)
    try:
        result = literature.search(query, max_results=max_results)
    except LiteratureError as err:
        record.error = _clip(str(err), 300)
        return record
    report = index.upsert(result.papers)
    record.results, record.new_papers = len(result.papers), report.new
    record.requests, record.cached, record.offline = result.requests, result.cached, result.offline
    return record


def _decide(
    gateway: LLMGateway,
    hits: list[Hit],
    *,
    title: str,
    hypothesis: str,
    sample: int,
    duplicate_threshold: float | None,
    base: dict[str, Any],
    notes: list[str],
) -> NoveltyVerdict:
    top_k = [
        ScoredPaper(
            id=hit.paper.id, version=hit.paper.version, title=hit.paper.title, score=hit.score, url=hit.paper.url
        )
        for hit in hits
    ]
    max_similarity = max((hit.score for hit in hits), default=0.0)
    common = {"top_k": top_k, "max_similarity": max_similarity, "duplicate_threshold": duplicate_threshold, **base}
    searched = any(record.error is None and not record.offline for record in base["searches"])
    if not hits and not searched:  # nothing in the index and no search answered: no evidence either way
        return NoveltyVerdict(
            novel=False, decided_by="unchecked", reasoning=UNCHECKED_REASONING, cited_ids=[], notes=notes, **common
        )
    if not hits:
        return NoveltyVerdict(
            novel=True,
            decided_by="no_evidence",
            reasoning="no related papers were found (empty index and no search results): novelty is unrefuted,"
            " not established",
            cited_ids=[],
            notes=notes,
            **common,
        )
    shown = hits[:PROMPT_PAPERS]
    decision: NoveltyDecision | None = None
    try:
        decision = gateway.structured(
            "novelty_decide",
            {
                "title": title,
                "hypothesis": hypothesis,
                "papers": [
                    {
                        "id": hit.paper.id,
                        "score": hit.score,
                        "title": _clip(hit.paper.title, 150),
                        "abstract": _clip(hit.paper.abstract, PROMPT_ABSTRACT_CHARS),
                    }
                    for hit in shown
                ],
            },
            decision_schema([hit.paper.id for hit in shown]),
            stage=STAGE,
            sample_index=sample,
        )
    except StructuredOutputError as err:
        notes.append(f"no valid decision from the model ({_clip(str(err), 200)})")
    near_duplicate = duplicate_threshold is not None and max_similarity >= duplicate_threshold
    if decision is None:
        threshold = duplicate_threshold if duplicate_threshold is not None else 0.9
        return NoveltyVerdict(
            novel=max_similarity < threshold,
            decided_by="fallback_threshold",
            reasoning=f"the model gave no valid decision; decided by max similarity {max_similarity:.3f}"
            f" {'≥' if max_similarity >= threshold else '<'} {threshold}",
            cited_ids=[top_k[0].id] if max_similarity >= threshold else [],
            notes=notes,
            **common,
        )
    cited, invented = _check_citations(decision.closest, {paper.id for paper in top_k})
    if invented:
        notes.append(f"dropped cited ids that were never retrieved: {', '.join(invented)}")
    novel, decided_by = decision.novel, "model"
    if near_duplicate and decision.novel:
        novel, decided_by = False, "similarity_guard"
        notes.append(f"overruled 'novel': {top_k[0].id} has similarity {max_similarity:.3f} ≥ {duplicate_threshold}")
        if top_k[0].id not in cited:
            cited.insert(0, top_k[0].id)
    return NoveltyVerdict(
        novel=novel,
        decided_by=decided_by,  # type: ignore[arg-type]
        model_novel=decision.novel,
        reasoning=decision.reasoning,
        cited_ids=cited,
        invented_ids=invented,
        notes=notes,
        **common,
    )


def _check_citations(cited: Sequence[str], retrieved: set[str]) -> tuple[list[str], list[str]]:
    """Split the model's citations into retrieved ids (normalised, deduplicated) and invented ones."""
    kept: list[str] = []
    invented: list[str] = []
    for raw in cited:
        paper_id = normalize_id(raw.strip().strip("[]()\"' "))
        if paper_id in retrieved:
            if paper_id not in kept:
                kept.append(paper_id)
        elif raw.strip() and raw.strip() not in invented:
            invented.append(raw.strip())
    return kept, invented


def _new_queries(queries: Sequence[str], issued: Sequence[str]) -> list[str]:
    seen = {_query_key(query) for query in issued}
    fresh: list[str] = []
    for query in queries:
        key = _query_key(query)
        if key and key not in seen:
            seen.add(key)
            fresh.append(query.strip())
    return fresh


def _query_key(query: str) -> str:
    return " ".join(sorted(set(re.findall(r"[^\W_]+", query.lower()))))


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- what to do with not-novel ideas --------------------------------------------------------------------------------
class Triage(BaseModel):
    """Ideas split by a novelty policy; `feedback` maps an idea's index to the revision hint for the ideate step."""

    kept: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    to_revise: list[dict[str, Any]]
    feedback: dict[int, str] = Field(default_factory=dict)


def triage(ideas: Sequence[dict[str, Any]], verdicts: Sequence[NoveltyVerdict], policy: NoveltyPolicy) -> Triage:
    """Apply the policy: `filter` (and `require`) drop not-novel ideas, `revise` sends them back with feedback, `keep`
    only records. An unchecked idea is kept under every policy (it was not refuted; `require` stops the run first).

    An empty `kept` is possible and the caller's to handle (e.g. stop, or revise and judge again).
    """
    if len(ideas) != len(verdicts):
        raise ValueError(f"{len(ideas)} ideas but {len(verdicts)} verdicts")
    result = Triage(kept=[], rejected=[], to_revise=[])
    for position, (idea, verdict) in enumerate(zip(ideas, verdicts, strict=True)):
        if verdict.novel or verdict.unchecked or policy == "keep":  # unchecked: not refuted (require stops earlier)
            result.kept.append(idea)
        elif policy in ("filter", "require"):
            result.rejected.append(idea)
        else:
            result.to_revise.append(idea)
            result.feedback[int(idea.get("index", position))] = revision_feedback(verdict)
    return result


def revision_feedback(verdict: NoveltyVerdict, limit: int = 600) -> str:
    """A short instruction for the ideate prompt: which papers the idea is too close to."""
    cited = [paper for paper in verdict.top_k if paper.id in verdict.cited_ids] or verdict.top_k[:2]
    closest = "; ".join(f"{paper.title} (arXiv {paper.id}, similarity {paper.score:.2f})" for paper in cited[:3])
    return _clip(
        f"This idea was judged not novel: it is too close to {closest}. Change it so it tests something"
        " these papers do not.",
        limit,
    )
