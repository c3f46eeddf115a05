"""The workspace paper index, shared by ideation (nearby papers as context) and novelty.

Its own module so that ideation and novelty (which sends ideas back to ideation for revision) do not import each
other. One index per location, opened and seeded once per process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from scientist.audit import events as audit_events

if TYPE_CHECKING:
    from scientist.context import RunContext
    from scientist.tools.index import PaperIndex

ACTOR = "novelty"  # the audit actor of the seed-corpus record (unchanged from when this lived in stages.novelty)
RELATED_FOR_IDEATION = 3
_indexes: dict[tuple[str, str], PaperIndex] = {}


def paper_index(ctx: RunContext) -> PaperIndex:
    """The workspace index (`$SCIENTIST_INDEX_*` or ~/.cache/scientist/index), seeded once, shared in-process."""
    from scientist.tools.index import PaperIndex, default_index_dir
    from scientist.tools.seed import ensure_seed, seed_corpus_path, seeding

    url = os.environ.get("SCIENTIST_INDEX_URL")
    location = url or str(default_index_dir())
    key = (location, os.environ.get("SCIENTIST_INDEX_COLLECTION", ""))
    source = seed_corpus_path()
    # Opened and seeded under the folder's lock: another process seeding it now is waited for, not read half-done.
    with seeding(None if url else default_index_dir()):
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = PaperIndex()
        added = ensure_seed(index, source) if source is not None else 0
    if added:
        ctx.audit.emit(audit_events.SeedCorpusLoaded(path=str(source), papers=added), ACTOR)
    return index


def related_papers(ctx: RunContext, text: str, k: int = RELATED_FOR_IDEATION) -> list[dict[str, Any]]:
    """The k indexed papers nearest to `text` (id, title, score), or [] when the index is empty or unusable.

    Used as cheap context for ideation; a broken index is recorded and never stops the run here (the novelty
    node reports it properly).
    """
    from scientist.tools.index import IndexStoreError

    try:
        hits = paper_index(ctx).search(text[:2000], k=k)
    except IndexStoreError as err:
        ctx.audit.emit(audit_events.StageFailure(stage="ideate.related", error=str(err)), "pipeline")
        return []
    return [{"id": hit.paper.id, "title": hit.paper.title, "score": round(hit.score, 3)} for hit in hits]
