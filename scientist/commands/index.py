"""`scientist index ...`: fill, search and inspect the local paper index the novelty check reads.

Heavy imports (chromadb, torch, sentence-transformers, arxiv) happen inside the commands so `scientist --help`
stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from scientist.commands.options import MaxFailuresOption, batch_policy

if TYPE_CHECKING:
    from scientist.tools.index import PaperIndex

app = typer.Typer(help="Fill, search and inspect the local paper index used for novelty checks.", no_args_is_help=True)

IndexDir = Annotated[
    Path | None,
    typer.Option("--index-dir", help="Index folder (default: $SCIENTIST_INDEX_DIR or ~/.cache/scientist/index)"),
]
IndexUrl = Annotated[
    str | None, typer.Option("--index-url", help="A chroma server instead of a folder, e.g. http://127.0.0.1:8000")
]
Collection = Annotated[str | None, typer.Option("--collection", help="Collection name (default: papers)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _open(index_dir: Path | None, index_url: str | None, collection: str | None) -> PaperIndex:
    from scientist.tools.index import PaperIndex

    return PaperIndex(index_dir, url=index_url, collection=collection)


def _note(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def add(
    query: Annotated[str, typer.Option("--query", "-q", help="arXiv search, e.g. 'reward hacking'")],
    max_results: Annotated[int, typer.Option("--max", "-n", min=1, max=500, help="Papers to fetch")] = 25,
    index_dir: IndexDir = None,
    index_url: IndexUrl = None,
    collection: Collection = None,
) -> None:
    """Search arXiv (rate-limited, cached) and add the results to the index."""
    from scientist.tools.literature import Literature, LiteratureOfflineError

    literature = Literature.from_env()
    result = literature.search(query, max_results=max_results)
    if result.offline and not result.papers:
        raise LiteratureOfflineError(
            f"arXiv is unreachable ({literature.offline_reason}) and the search cache has no answer for {query!r}",
            hint="connect to the network, or add papers from a file with `scientist index import FILE`",
        )
    index = _open(index_dir, index_url, collection)
    report = index.upsert(result.papers)
    how = "from the cache" if result.cached else f"{result.requests} request(s)"
    if result.offline:
        how += "; arXiv unreachable, cached pages only"
    _note(f"arXiv: {len(result.papers)} paper(s) for {query!r} ({how})")
    typer.echo(f"added {report.papers} paper(s), {report.new} new; {index.collection_name} now has {index.count()}")


@app.command()
def build(
    queries: Annotated[
        list[str] | None, typer.Argument(help='Searches, e.g. "reward hacking" "goal misgeneralization"')
    ] = None,
    max_results: Annotated[
        int | None, typer.Option("--max", "-n", min=1, max=1000, help="Papers per query (default 50; 70 with --preset)")
    ] = None,
    since: Annotated[
        int | None, typer.Option("--since", min=1900, max=2100, help="Only papers published in or after this year")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            help="Sources to ask, in order (repeat or comma-separate): arxiv, openalex, semantic_scholar, crossref"
            " (default: $SCIENTIST_LITERATURE_SOURCES or arxiv,openalex,semantic_scholar)",
        ),
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="A shipped list of queries: ai-safety")] = None,
    index_dir: IndexDir = None,
    index_url: IndexUrl = None,
    collection: Collection = None,
    max_failures: MaxFailuresOption = None,
    fulltext: Annotated[
        str | None,
        typer.Option(
            "--fulltext",
            help="Also fetch, chunk and embed the open PDFs of papers from these sources (comma-separated, e.g."
            " arxiv,openalex,semantic_scholar) into <collection>-chunks, so a passage can be quoted; default: none",
        ),
    ] = None,
) -> None:
    """Search the sources, embed and add the papers in one command; re-running it resumes (nothing twice)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scientist.batch import FailureLimit
    from scientist.tools.build import IndexBuildError, QueryOutcome, build_index, preset_queries
    from scientist.tools.fulltext import ChunkIndex, FullTextFetcher, fulltext_sources
    from scientist.tools.index import PaperIndex, default_index_dir
    from scientist.tools.seed import seeding
    from scientist.tools.sources import build_sources

    planned = [query for query in (queries or []) if query.strip()]
    if preset is not None:
        planned += preset_queries(preset)
    if not planned:
        raise IndexBuildError(
            "no query to build the index from", hint='give queries ("reward hacking" ...) or --preset ai-safety'
        )
    limit = FailureLimit.parse(max_failures)  # a bad value is refused before any request
    per_query = max_results or (70 if preset else 50)
    fulltext_names = fulltext_sources(fulltext)  # a bad name is refused before any request
    sources = build_sources(source, fulltext=fulltext_names)
    folder = (
        None
        if index_url or (index_dir is None and os.environ.get("SCIENTIST_INDEX_URL"))
        else (index_dir or default_index_dir()).expanduser()
    )
    console = Console(stderr=True)
    with seeding(folder):
        index = PaperIndex(folder, url=index_url, collection=collection)
        chunks = (ChunkIndex(index), FullTextFetcher(fulltext_names)) if fulltext_names else None
        with Progress(
            TextColumn("[bold]index build"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("", total=len(planned))

            def advance(outcome: QueryOutcome) -> None:
                if outcome.skipped:
                    note = "done before"
                elif outcome.error:
                    note = f"[red]failed[/red]: {escape(outcome.error[:150])}"
                else:
                    via = ", ".join(f"{name} {count}" for name, count in outcome.sources.items())
                    note = f"+{outcome.added} new of {outcome.found} ({via})"
                    if chunks is not None:
                        note += f", full text of {outcome.chunked}"
                        note += f" ({len(outcome.fulltext_failed)} unreadable)" if outcome.fulltext_failed else ""
                progress.console.print(f"{escape(outcome.query)}: {note}")  # a line per query, above the bar
                progress.update(task, advance=1, description=escape(outcome.query[:40]))

            report = build_index(
                index,
                planned,
                sources=sources,
                max_results=per_query,
                since=since,
                journal_dir=folder,
                on_query=advance,
                max_failures=limit,
                fulltext=chunks,
            )
    skipped = sum(1 for outcome in report.queries if outcome.skipped)
    for outcome in report.failed:
        _note(f"failed: {outcome.query!r}: {outcome.error}")
    typer.echo(
        f"built {len(report.queries)} query(ies): {report.added} paper(s) added, {skipped} query(ies) done before,"
        f" {len(report.failed)} failed; {index.collection_name} now has {report.total}"
    )
    if report.failed and len(report.failed) == len(report.queries):
        raise typer.Exit(1)


@app.command(name="import")
def import_(
    file: Annotated[Path, typer.Argument(help="JSONL (one paper per line) or a saved arXiv Atom response (.xml)")],
    index_dir: IndexDir = None,
    index_url: IndexUrl = None,
    collection: Collection = None,
    max_failures: MaxFailuresOption = None,
) -> None:
    """Add papers from a JSONL file or an arXiv Atom XML file. Bad JSONL lines are reported and skipped."""
    from scientist.batch import ItemFailure, run_batch
    from scientist.tools.index import IndexImportError, parse_paper_line, read_import_file

    atom, lines = read_import_file(file)
    papers = list(atom or [])
    failures: list[ItemFailure] = []
    if atom is None:
        policy = batch_policy(max_failures, retry_failed=False, reseed=False).model_copy(update={"resumable": False})
        run_batch(
            lines,
            key=lambda numbered: f"line {numbered[0]}",
            work=lambda numbered, _seed: parse_paper_line(file, *numbered),
            done={},
            failed={},
            policy=policy,
            label="index import",
            on_done=lambda numbered, paper: papers.append(paper),
            on_failed=lambda numbered, failure: failures.append(failure),
            item_errors=(IndexImportError,),
        )
    for failure in failures:
        _note(f"skipped {failure.error} ({failure.hint})" if failure.hint else f"skipped {failure.error}")
    if not papers:
        raise IndexImportError(f"{file} holds no valid paper ({len(failures)} bad line(s))", hint="fix the file")
    index = _open(index_dir, index_url, collection)
    report = index.upsert(papers)
    skipped = f"; {len(failures)} bad line(s) skipped" if failures else ""
    typer.echo(
        f"imported {report.papers} paper(s) from {file}, {report.new} new{skipped}; {index.collection_name} now has"
        f" {index.count()}"
    )


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="A title, an abstract or a few words")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="How many papers")] = 10,
    index_dir: IndexDir = None,
    index_url: IndexUrl = None,
    collection: Collection = None,
    as_json: AsJson = False,
) -> None:
    """The papers nearest to TEXT by meaning (cosine similarity of MiniLM embeddings)."""
    index = _open(index_dir, index_url, collection)
    hits = index.search(text, k=k)
    if as_json:
        typer.echo("[" + ",".join(hit.model_dump_json() for hit in hits) + "]")
        return
    if not hits:
        _note(f"the collection {index.collection_name!r} is empty: fill it with `scientist index add` or `import`")
        return
    for hit in hits:
        typer.echo(f"{hit.score:.3f}  {hit.paper.versioned_id:<18}  {hit.paper.title}")


@app.command()
def stats(
    index_dir: IndexDir = None,
    index_url: IndexUrl = None,
    collection: Collection = None,
    as_json: AsJson = False,
) -> None:
    """Where the index is, how many papers it holds, and which model embedded them."""
    result = _open(index_dir, index_url, collection).stats()
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(f"index: {result.location}")
    typer.echo(f"collection: {result.collection} ({result.papers} papers)")
    typer.echo(f"embedding: {result.embedding_model}, {result.dimensions} dimensions, {result.space} similarity")
    typer.echo(f"collections: {', '.join(result.collections)}")


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="JSONL file to write (the `import` format)")],
    index_dir: IndexDir = None,
    index_url: IndexUrl = None,
    collection: Collection = None,
) -> None:
    """Write every paper of a collection as JSONL (e.g. to record a seed corpus)."""
    from scientist.tools.index import dump_papers

    count = dump_papers(_open(index_dir, index_url, collection).iter_papers(), file)
    typer.echo(f"wrote {count} paper(s) to {file}")
