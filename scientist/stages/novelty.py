"""Novelty: judge every idea against the local paper index (and arXiv when reachable), then apply the policy.

The judgement itself is `scientist.tools.novelty.judge_novelty`; this stage decides what a run does with it.
Not-novel ideas are dropped (`filter`), sent back to the model with the closest papers as feedback and judged
again (`revise`), or only recorded (`keep`). When no idea survives, the run either goes on with the idea least
similar to published work, flagged as not novel everywhere it appears (`novelty_exhausted = "least_similar"`),
or stops with the evidence (`"stop"`). Every verdict, with its scores, queries and reasoning, goes to
`novelty.json` and the audit log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scientist.audit import events as audit_events
from scientist.errors import ScientistError
from scientist.runs import RunFolder
from scientist.stages.papers import paper_index

if TYPE_CHECKING:
    from scientist.config import Settings
    from scientist.context import RunContext
    from scientist.tools.index import PaperIndex
    from scientist.tools.novelty import NoveltyVerdict

STAGE = "novelty"


class NoveltyExhaustedError(ScientistError):
    """Every idea was judged not novel and the configuration says to stop."""


class NoveltyUncheckedError(ScientistError):
    """`novelty_policy = "require"` and novelty could not be checked (empty index, no literature source answered)."""


UNCHECKED_NOTE = (
    "novelty unchecked: the paper index was empty and no literature source answered, so no idea was compared with"
    " published work; build the index with `scientist index build --preset ai-safety`"
)


def _judge(ctx: RunContext, idea: dict[str, Any], index: PaperIndex, literature: Any) -> NoveltyVerdict:
    from scientist.tools.novelty import judge_novelty

    settings = ctx.settings

    def say(message: str) -> None:
        ctx.progress(STAGE, f"idea {idea['index']}: {message}")

    say("judging novelty")
    verdict = judge_novelty(
        ctx.gateway,
        idea,
        index,
        literature,
        rounds=settings.novelty_rounds,
        k=settings.novelty_k,
        duplicate_threshold=settings.novelty_duplicate_threshold,
        audit=ctx.audit,
        progress=say,
    )
    ctx.audit.emit(
        audit_events.NoveltyVerdict(
            idea_index=idea["index"],
            novel=verdict.novel,
            verdict=verdict.label,
            decided_by=verdict.decided_by,
            max_similarity=verdict.max_similarity,
            cited_ids=verdict.cited_ids,
            fresh_search=verdict.fresh_search,
            offline=verdict.offline,
        ),
        STAGE,
    )
    return verdict


def _record(idea: dict[str, Any], verdict: NoveltyVerdict, attempt: int) -> dict[str, Any]:
    return {
        "index": idea["index"],
        "novelty": verdict.label,
        "attempt": attempt,
        "outcome": "pending",
        **verdict.model_dump(mode="json"),
    }


def _related_work(index: PaperIndex, verdict: NoveltyVerdict, limit: int) -> list[dict[str, Any]]:
    """The closest papers (cited first, at most `limit`: the writer's profile) with authors, year, url."""
    ordered = [paper for paper in verdict.top_k if paper.id in verdict.cited_ids]
    ordered += [paper for paper in verdict.top_k if paper.id not in verdict.cited_ids]
    chosen = ordered[:limit]
    details = {paper.id: paper for paper in index.get([paper.id for paper in chosen])}
    related = []
    for scored in chosen:
        paper = details.get(scored.id)
        authors = paper.authors if paper is not None else []
        entry = {
            "id": scored.id,
            "title": scored.title,
            "score": round(scored.score, 3),
            "url": scored.url,
            "authors": authors,
            "year": paper.published.year if paper is not None and paper.published else None,
            "source": paper.source if paper is not None else "arxiv",
        }
        if paper is not None and paper.doi:  # only then: entries of papers without a DOI stay as they were
            entry["doi"] = paper.doi
        related.append(entry)
    return related


def _quote_passages(index: PaperIndex, idea: dict[str, Any]) -> None:
    """Each related paper's full-text passage nearest to the idea, where `index build --fulltext` chunked it."""
    from scientist.tools.fulltext import ChunkIndex

    chunks = ChunkIndex(index)
    if chunks.index.count() == 0:
        return
    text = " ".join(str(idea.get(field) or "") for field in ("title", "hypothesis", "experiment_plan")).strip()
    for entry in idea.get("related_work") or []:
        found = chunks.best_passage(str(entry["id"]), text[:2000])
        if found is not None:
            entry["passage"], entry["passage_score"] = found[0], round(found[1], 3)


def check_novelty_checkable(settings: Settings) -> None:
    """`novelty_policy = "require"` with nothing to check against, known before any model call: the index is empty
    (no folder or no papers, and no seed corpus to fill it) and no search can answer (literature offline, or
    `novelty_rounds = 0`). Such a run could only stop at its novelty node after paying for ideation, so it is refused
    here. A chroma server (SCIENTIST_INDEX_URL) is not probed: it may hold papers."""
    if settings.novelty_policy != "require" or os.environ.get("SCIENTIST_INDEX_URL"):
        return
    from scientist.tools.index import index_size
    from scientist.tools.literature import Literature
    from scientist.tools.seed import seed_corpus_path

    if seed_corpus_path() is not None or index_size():
        return
    literature = Literature.from_env()
    if settings.novelty_rounds > 0 and not literature.offline:
        return
    why = "literature search is offline" if literature.offline else "novelty_rounds = 0 (no search)"
    raise NoveltyUncheckedError(
        f'novelty_policy = "require" but novelty cannot be checked: the paper index is empty and {why}',
        hint="build the index first (`scientist index build --preset ai-safety`, or `scientist index import FILE`),"
        " allow a literature search, or choose another novelty_policy",
    )


def _require_checked(ctx: RunContext, verdicts: list[NoveltyVerdict]) -> None:
    """`novelty_policy = "require"`: stop (before any further model call) when a verdict could not be checked.

    The run ends failed at the novelty node with its checkpoint intact, so `scientist resume RUN` judges again
    once the index is built."""
    unchecked = [verdict for verdict in verdicts if verdict.unchecked]
    if not unchecked:
        return
    ctx.audit.emit(
        audit_events.NoveltyUncheckedStop(
            ideas=[verdict.idea_index for verdict in unchecked],
            index_papers=unchecked[0].index_papers,
        ),
        STAGE,
    )
    raise NoveltyUncheckedError(
        f"novelty could not be checked (the paper index holds {unchecked[0].index_papers} papers and no literature"
        ' source answered) and novelty_policy = "require"',
        hint=f"build the index (`scientist index build --preset ai-safety`, or `scientist index import FILE`), then"
        f" `scientist resume {ctx.run_id}`",
    )


def unchecked_summary(run_dir: Path) -> str | None:
    """The run summary's line when any idea's novelty was unchecked (None otherwise, or without novelty.json)."""
    import json

    try:
        records = json.loads(RunFolder(run_dir).novelty.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(records, list):
        return None
    count = sum(isinstance(record, dict) and record.get("novelty") == "unchecked" for record in records)
    if not count:
        return None
    return f"{UNCHECKED_NOTE} ({count} of {len(records)} verdicts unchecked)"


def check_novelty(ctx: RunContext, topic: str, ideas: list[dict[str, Any]]) -> dict[str, Any]:
    """Judge `ideas`, apply `novelty_policy`; returns {"novelty": records, "candidates": ideas that go on}.

    Each candidate carries `novelty` (a short summary of its verdict) and `related_work` (closest papers).
    """
    from scientist.stages.ideation import revise_idea
    from scientist.tools.literature import Literature
    from scientist.tools.novelty import revision_feedback, triage

    settings = ctx.settings
    if settings.novelty_policy == "off":  # a scaffold without a novelty check (e.g. the `plain` study variant)
        ctx.audit.emit(audit_events.NoveltySkipped(ideas=len(ideas), policy="off"), STAGE)
        return {"novelty": [], "candidates": list(ideas)}
    ctx.progress(STAGE, "opening the paper index")
    index = paper_index(ctx)
    literature = Literature.from_env() if settings.novelty_rounds > 0 else None
    records: list[dict[str, Any]] = []
    judged: dict[int, tuple[dict[str, Any], NoveltyVerdict]] = {}
    candidates: list[dict[str, Any]] = []
    pending = list(ideas)
    next_index = max((int(idea["index"]) for idea in ideas), default=-1) + 1
    attempts = settings.novelty_revisions + 1 if settings.novelty_policy == "revise" else 1
    for attempt in range(attempts):
        verdicts = [_judge(ctx, idea, index, literature) for idea in pending]
        if settings.novelty_policy == "require":
            _require_checked(ctx, verdicts)
        batch = [_record(idea, verdict, attempt) for idea, verdict in zip(pending, verdicts, strict=True)]
        records.extend(batch)
        for idea, verdict in zip(pending, verdicts, strict=True):
            judged[int(idea["index"])] = (idea, verdict)
        result = triage(pending, verdicts, settings.novelty_policy)
        last = attempt == attempts - 1
        by_index = {record["index"]: record for record in batch}
        for idea in result.kept:
            by_index[idea["index"]]["outcome"] = "kept"
            candidates.append(idea)
        for idea in result.rejected:
            by_index[idea["index"]]["outcome"] = "filtered"
        for idea in result.to_revise:
            by_index[idea["index"]]["outcome"] = "filtered" if last else "sent_back"
        if last or not result.to_revise:
            break
        pending = []
        for idea in result.to_revise:
            feedback = result.feedback.get(int(idea["index"])) or revision_feedback(judged[int(idea["index"])][1])
            ctx.progress(STAGE, f"revising idea {idea['index']} (attempt {attempt + 1})")
            revised = revise_idea(ctx, topic, idea, feedback, next_index)
            next_index += 1
            if revised is not None:
                pending.append(revised)
        if not pending:
            break

    exhausted = not candidates
    if exhausted:
        closest = "; ".join(
            f"idea {number} ≈ {verdict.top_k[0].id} ({verdict.max_similarity:.2f})"
            for number, (_, verdict) in judged.items()
            if verdict.top_k
        )
        ctx.audit.emit(
            audit_events.NoveltyExhausted(
                ideas=len(judged),
                policy=settings.novelty_policy,
                then=settings.novelty_exhausted,
            ),
            STAGE,
        )
        if settings.novelty_exhausted == "stop":
            raise NoveltyExhaustedError(
                f"all {len(judged)} ideas were judged not novel ({closest or 'see novelty.json'})",
                hint="start a run with another topic or more ideas (--num-ideas), or set novelty_exhausted ="
                ' "least_similar" or novelty_policy = "keep" in scientist.toml; the verdicts are in the audit log',
            )
        number, (idea, _) = min(judged.items(), key=lambda item: (item[1][1].max_similarity, item[0]))
        candidates = [idea]
        for record in records:
            if record["index"] == number:
                record["outcome"] = "kept_least_similar"
    candidates = [dict(idea) for idea in candidates]  # never edit the ideas already in the checkpointed state
    for idea in candidates:
        verdict = judged[int(idea["index"])][1]
        idea["novelty"] = {
            "novel": verdict.novel,
            "decided_by": verdict.decided_by,
            "max_similarity": verdict.max_similarity,
            "closest": verdict.top_k[0].id if verdict.top_k else None,
            "proceeded_without_novel_idea": exhausted,
        }
        if verdict.unchecked:  # only then: the writer is told (and the paper says) that novelty was not checked
            idea["novelty"]["unchecked"] = True
        if ctx.settings.retrieval == "on":  # off: the writer gets no related papers (the gate still judged)
            idea["related_work"] = _related_work(index, verdict, ctx.gateway.limits_for("writeup").references)
            if ctx.settings.fulltext_quotes == "on":
                _quote_passages(index, idea)
    return {"novelty": records, "candidates": candidates}
