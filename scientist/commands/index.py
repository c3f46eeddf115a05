"""`scientist index ...`: fill, search and inspect the local paper index the novelty check reads.

Heavy imports (chromadb, torch, sentence-transformers, arxiv) happen inside the commands so `scientist --help`
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
