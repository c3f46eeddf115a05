"""`scientist index build`: search several sources, embed and add to the paper index in one resumable command.

Why resumable at two levels: a build of ~2,000 papers takes minutes of network and embedding, and is the kind of
command that gets killed. (1) A journal next to the index (`.index-build/<collection>.jsonl`) records each query
finished under the same settings (sources, --max, --since), so a re-run skips it without a request. (2) A query cut
short is searched again (its pages come from the disk cache, no request), and only papers whose id the collection
does not hold yet are embedded: a kill between the write to chromadb and the journal line adds nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from scientist.batch import BatchStoppedError, FailureLimit
from scientist.errors import ConfigError
from scientist.faults import kill_point
from scientist.tools.index import PaperIndex
from scientist.tools.literature import LiteratureQueryError
from scientist.tools.scholarly import Sources, SourceUnavailableError

if TYPE_CHECKING:
    from scientist.tools.fulltext import ChunkIndex, FullTextFetcher

PRESET_DIR = Path(__file__).parent / "corpus"
PRESETS = {"ai-safety": "preset-ai-safety.txt"}
JOURNAL_DIR = ".index-build"


class IndexBuildError(ConfigError):
    """An index build cannot start: no query, an unknown preset, a bad --since."""


def preset_queries(name: str) -> list[str]:
    """The queries of a shipped preset (one per line, '#' comments); unknown names list the known ones."""
    file = PRESETS.get(name)
    if file is None:
        raise IndexBuildError(f"unknown preset {name!r}", hint=f"choose one of: {', '.join(sorted(PRESETS))}")
    lines = (PRESET_DIR / file).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class QueryOutcome(BaseModel):
    query: str
    found: int = 0
    added: int = 0
    already: int = 0
    skipped: bool = False  # finished by an earlier build with the same settings
    error: str | None = None
    sources: dict[str, int] = Field(default_factory=dict)
    chunked: int = 0  # papers whose full text was chunked (--fulltext)
    fulltext_failed: list[str] = Field(default_factory=list)


class BuildReport(BaseModel):
    queries: list[QueryOutcome] = Field(default_factory=list)
    total: int = 0

    @property
    def added(self) -> int:
        return sum(outcome.added for outcome in self.queries)

    @property
    def failed(self) -> list[QueryOutcome]:
        return [outcome for outcome in self.queries if outcome.error]


class Journal:
    """Queries finished by earlier builds of one collection: one JSON line each, appended and fsynced."""

    def __init__(self, folder: Path, collection: str) -> None:
        self.path = folder / JOURNAL_DIR / f"{collection}.jsonl"
        self.done: set[str] = set()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    self.done.add(str(json.loads(line)["key"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a kill: that query is simply done again

    def mark(self, key: str, outcome: QueryOutcome) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "query": outcome.query, "added": outcome.added}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.add(key)


def query_key(query: str, *, sources: Sequence[str], max_results: int, since: int | None) -> str:
    plan = json.dumps([" ".join(query.lower().split()), list(sources), max_results, since])
    return hashlib.sha256(plan.encode()).hexdigest()[:32]


def build_index(
    index: PaperIndex,
    queries: Sequence[str],
    *,
    sources: Sources,
    max_results: int,
    since: int | None = None,
    journal_dir: Path | None = None,
    on_query: Callable[[QueryOutcome], None] | None = None,
    max_failures: FailureLimit | None = None,
    fulltext: tuple[ChunkIndex, FullTextFetcher] | None = None,
) -> BuildReport:
    """Search, embed and add each query's papers; a query no source can answer is reported, the others go on.

    `max_failures` (scientist.batch's `--max-failures`): once more queries failed than it tolerates (a count, or a
    fraction of the queries), the build stops, every finished query kept (an unreachable network should not walk a
    whole preset). `fulltext` (`--fulltext`): each query's papers with an open PDF from a named source are chunked
    into the chunk collection too (before the query is journalled; a paper chunked before is skipped)."""
    if not queries:
        raise IndexBuildError(
            "no query to build the index from", hint='give queries ("reward hacking" ...) or --preset ai-safety'
        )
    names = [source.name for source in sources.sources]
    journal = Journal(journal_dir, index.collection_name) if journal_dir is not None else None
    report = BuildReport()
    for query in queries:
        key = query_key(query, sources=names, max_results=max_results, since=since)
        outcome = QueryOutcome(query=query)
        if journal is not None and key in journal.done:
            outcome.skipped = True
        else:
            try:
                result = sources.search(query, max_results, since)
            except (SourceUnavailableError, LiteratureQueryError) as err:
                outcome.error = err.message
            else:
                outcome.sources = {item.name: item.found for item in result.outcomes if not item.error}
                papers = result.papers
                known = index.known_ids([paper.id for paper in papers])
                fresh = [paper for paper in papers if paper.id not in known]
                if fresh:
                    index.upsert(fresh)
                outcome.found, outcome.added, outcome.already = len(papers), len(fresh), len(papers) - len(fresh)
                kill_point("index-build:after-upsert")
                if fulltext is not None:
                    chunks = fulltext[0].add(result.records, fulltext[1])
                    outcome.chunked, outcome.fulltext_failed = chunks.papers, chunks.failed
                if journal is not None:
                    journal.mark(key, outcome)
        report.queries.append(outcome)
        if on_query is not None:
            on_query(outcome)
        if max_failures is not None and len(report.failed) > max_failures.tolerated(len(queries)):
            raise BatchStoppedError(
                f"index build stopped: {len(report.failed)} of {len(queries)} queries failed"
                f" (--max-failures {max_failures.describe()}); last: {outcome.error}",
                hint="every finished query is kept: fix the sources (network, keys) and run the same command again",
            )
    report.total = index.count()
    return report
