"""arXiv search with the manners a shared service needs and the robustness an unattended run needs.

The `arxiv` package builds queries, pages through results and parses the Atom feed; this module adds what it lacks
for an agent: one request per `min_interval_s` (arXiv asks for 3 s) across the whole process, bounded retries with
backoff *and* a total deadline (a search never hangs), a per-request timeout, an on-disk cache of every response (a
repeated query costs no request, and works offline), and an offline mode: when the network is unreachable it says
so once, then serves the cache only, and every result records that it was not a fresh search.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from scientist.config import default_cache_dir
from scientist.errors import ConfigError, ScientistError
from scientist.files import write_bytes_atomic

log = logging.getLogger(__name__)

ARXIV_API = "https://export.arxiv.org/api/query"
ATOM_NS = "http://www.w3.org/2005/Atom"
MAX_QUERY_CHARS = 300
MAX_QUERY_TERMS = 6
MAX_RESULTS = 500
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})

# New-style ids (0704.0001 onwards) and old-style archive/YYMMNNN ids, each with an optional version.
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z.-]*(?:\.[A-Z]{2})?/\d{7}"
_ARXIV_ID = re.compile(
    rf"^(?:arxiv:|https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/)?(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?"
    r"(?:\.pdf)?$",
    re.IGNORECASE,
)
_FIELD_PREFIX = re.compile(r"\b(?:ti|au|abs|co|jr|cat|rn|id|all):")
_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as one string
        "a an and are as at be by can do does for from how in into is it its of on or that the their this to under"
        " using via what when which while with without"
    ).split()
)


class LiteratureError(ScientistError):
    """A literature search could not be done (bad query, arXiv unusable within the retry budget)."""


class LiteratureQueryError(LiteratureError):
    """The query itself is unusable: empty, too long, or without searchable words."""


class ArxivUnavailableError(LiteratureError):
    """arXiv answered, but not usably (rate limited, 5xx, malformed XML) within the retries and the deadline."""


class LiteratureOfflineError(LiteratureError):
    """arXiv cannot be reached and the cache has no answer (raised only where a caller asks for fresh results)."""


def parse_arxiv_id(value: str) -> tuple[str, int | None]:
    """`'arXiv:2107.05580v2'`, a URL or a bare id → `('2107.05580', 2)`; ValueError if it is no arXiv id."""
    match = _ARXIV_ID.match(value.strip())
    if match is None:
        raise ValueError(f"not an arXiv id: {value!r}")
    version = match.group("version")
    return match.group("id"), int(version) if version else None


def normalize_id(value: str) -> str:
    """The index key for an id: an arXiv id without its version; any other id stripped of blanks."""
    try:
        return parse_arxiv_id(value)[0]
    except ValueError:
        return value.strip()


def normalize_doi(value: str | None) -> str | None:
    """'https://doi.org/10.1/ABC' → '10.1/abc' (DOIs are case-insensitive); None for anything that is no DOI."""
    if not value:
        return None
    doi = value.strip()
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", doi, flags=re.IGNORECASE).strip().lower()
    return doi if doi.startswith("10.") and "/" in doi else None


class Paper(BaseModel):
    """One paper as the index and the novelty verdict store it. `id` has no version: it is the index key."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    version: int | None = Field(default=None, ge=1)
    title: str = Field(min_length=1, max_length=1000)
    authors: list[str] = Field(default_factory=list)
    abstract: str = Field(validation_alias=AliasChoices("abstract", "summary"), max_length=20_000)
    categories: list[str] = Field(default_factory=list)
    primary_category: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    url: str | None = None
    source: str = Field(default="arxiv", description="arxiv for arXiv records; anything else marks another origin")
    doi: str | None = Field(default=None, description="normalised DOI (10.x/...), when a source gave one")

    @model_validator(mode="before")
    @classmethod
    def _split_arxiv_version(cls, data: Any) -> Any:
        """An arXiv record's id is stored without its version ('2107.05580v2' → id + version 2), and must be one."""
        if not isinstance(data, dict) or data.get("source", "arxiv") != "arxiv" or not isinstance(data.get("id"), str):
            return data
        try:
            paper_id, version = parse_arxiv_id(data["id"])
        except ValueError as err:
            raise ValueError(f"{err} (records with source 'arxiv' need an arXiv id; set another source)") from err
        data = {**data, "id": paper_id}
        if version is not None and data.get("version") is None:
            data["version"] = version
        return data

    @field_validator("doi")
    @classmethod
    def _normalised_doi(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        doi = normalize_doi(value)
        if doi is None:
            raise ValueError(f"not a DOI: {value!r} (a DOI starts with 10. and has a '/')")
        return doi

    @field_validator("title")
    @classmethod
    def _one_line_title(cls, value: str) -> str:
        return re.sub(r"\s+", " ", value).strip()

    @field_validator("abstract")
    @classmethod
    def _tidy_abstract(cls, value: str) -> str:
        return re.sub(r"\s+", " ", value).strip()

    @property
    def versioned_id(self) -> str:
        return f"{self.id}v{self.version}" if self.version else self.id

    def text(self) -> str:
        """What gets embedded: title and abstract (`title` never contains a blank line, so this splits back)."""
        return f"{self.title}\n\n{self.abstract}"


def paper_from_arxiv(result: Any) -> Paper | None:
    """Normalise an `arxiv.Result`; None for entries that are no paper (arXiv reports query errors as entries)."""
    try:
        paper_id, version = parse_arxiv_id(result.entry_id)
    except ValueError:
        log.warning("skipping an arXiv entry with id %r", result.entry_id)
        return None
    return Paper(
        id=paper_id,
        version=version,
        title=result.title or "(untitled)",
        authors=[author.name for author in result.authors],
        abstract=result.summary or "",
        categories=list(result.categories),
        primary_category=result.primary_category or None,
        published=result.published,
        updated=result.updated,
        url=f"https://arxiv.org/abs/{paper_id}",
    )


def to_arxiv_query(text: str) -> str:
    """A free-text query as arXiv search syntax (`all:w1 AND all:w2 ...`); fielded queries pass through unchanged.

    arXiv's API has no ranking-friendly free-text mode, so the content words (at most MAX_QUERY_TERMS) are ANDed.
    """
    query = text.strip()
    if not query:
        raise LiteratureQueryError("the search query is empty", hint="give a few keywords, e.g. 'reward hacking'")
    if len(query) > MAX_QUERY_CHARS:
        raise LiteratureQueryError(
            f"the search query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}",
            hint="use a few keywords, not a whole abstract",
        )
    if _FIELD_PREFIX.search(query):
        return query
    terms: list[str] = []
    for word in re.findall(r"[^\W_]+", query.lower()):
        if len(word) > 1 and word not in _STOPWORDS and word not in terms:
            terms.append(word)
    if not terms:
        raise LiteratureQueryError(f"the search query {query!r} has no searchable words", hint="use keywords")
    return " AND ".join(f"all:{term}" for term in terms[:MAX_QUERY_TERMS])


class SearchResult(BaseModel):
    """What one search returned and how: `requests` counts HTTP requests actually sent (0: all from the cache)."""

    query: str
    arxiv_query: str
    papers: list[Paper]
    requests: int = 0
    cache_hits: int = 0
    offline: bool = False

    @property
    def cached(self) -> bool:
        return self.requests == 0 and self.cache_hits > 0


class ResponseCache:
    """Raw arXiv Atom responses on disk, one file per request, keyed by the request's query string.

    The host is not part of the key, so a cache recorded against arXiv answers for a mirror or a test server.
    `ttl_s=None` keeps answers forever (a novelty verdict should be reproducible, not silently refreshed).
    """

    def __init__(self, root: Path, ttl_s: float | None = None, *, suffix: str = ".atom") -> None:
        self.root = root
        self.ttl_s = ttl_s
        self.suffix = suffix

    @staticmethod
    def key(url: str) -> str:
        return hashlib.sha256(urlsplit(url).query.encode()).hexdigest()

    def path(self, url: str) -> Path:
        key = self.key(url)
        return self.root / key[:2] / f"{key}{self.suffix}"

    def get(self, url: str) -> bytes | None:
        path = self.path(url)
        try:
            if self.ttl_s is not None and time.time() - path.stat().st_mtime > self.ttl_s:
                return None
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def put(self, url: str, content: bytes) -> None:
        write_bytes_atomic(self.path(url), content)


_rate_lock = threading.Lock()
_last_request: dict[str, float] = {}


def _wait_for_slot(host: str, interval_s: float, deadline: float) -> None:
    """One request per interval per host for the whole process (two Literature objects share arXiv's limit)."""
    with _rate_lock:
        now = time.monotonic()
        start = max(now, _last_request.get(host, -float("inf")) + interval_s)
        if start > deadline:
            raise ArxivUnavailableError(
                "the literature search ran out of time waiting for arXiv's rate limit",
                hint="raise the search deadline or issue fewer queries",
            )
        _last_request[host] = start  # reserve the slot before sleeping, so concurrent callers queue up
    time.sleep(max(0.0, start - now))


class _Offline(Exception):
    """Internal: the network is unreachable; the search returns what the cache had."""


def _atom_problem(content: bytes, *, expect_entries: bool = False) -> str | None:
    """None if `content` is a well-formed Atom feed, else what is wrong with it. (The arxiv parser recovers from
    broken XML silently and reports 'no results', which a novelty check would read as 'novel'.)"""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content, parser=parser)
    except etree.XMLSyntaxError as err:
        return f"malformed XML ({err})"
    if root is None or root.tag != f"{{{ATOM_NS}}}feed":
        return f"not an Atom feed (root element {getattr(root, 'tag', None)!r})"
    if expect_entries and root.find(f"{{{ATOM_NS}}}entry") is None:
        return "a follow-up page was unexpectedly empty"
    return None


class Literature:
    """arXiv search: rate-limited, retried within a deadline, cached on disk, offline-tolerant.

    `base_url` is arXiv's API by default; tests point it at a loopback server. `min_interval_s` is arXiv's
    requested 3 s (configurable so tests need not sleep). `offline=True` never touches the network.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        base_url: str = ARXIV_API,
        min_interval_s: float = 3.0,
        retries: int = 3,
        backoff_s: float = 2.0,
        timeout_s: float = 20.0,
        deadline_s: float = 120.0,
        page_size: int = 50,
        cache_ttl_s: float | None = None,
        offline: bool = False,
    ) -> None:
        self.cache = ResponseCache(cache_dir or default_cache_dir() / "arxiv", ttl_s=cache_ttl_s)
        self.base_url = base_url
        self.host = urlsplit(base_url).netloc
        self.min_interval_s = min_interval_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.page_size = page_size
        self.offline_reason: str | None = "offline mode was requested" if offline else None
        self.requests_sent = 0
        self._session: Any = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Literature:
        """Defaults, then `SCIENTIST_ARXIV_URL`, `SCIENTIST_ARXIV_MIN_INTERVAL_S`, `SCIENTIST_ARXIV_CACHE_DIR` and
        `SCIENTIST_ARXIV_OFFLINE` (1/true/yes), then `overrides` (None values ignored)."""
        options: dict[str, Any] = {}
        if url := os.environ.get("SCIENTIST_ARXIV_URL"):
            options["base_url"] = url
        if cache := os.environ.get("SCIENTIST_ARXIV_CACHE_DIR"):
            options["cache_dir"] = Path(cache).expanduser()
        if interval := os.environ.get("SCIENTIST_ARXIV_MIN_INTERVAL_S"):
            try:
                options["min_interval_s"] = max(0.0, float(interval))
            except ValueError as err:
                raise ConfigError(
                    f"SCIENTIST_ARXIV_MIN_INTERVAL_S must be a number of seconds, got {interval!r}", hint="e.g. 3"
                ) from err
        if os.environ.get("SCIENTIST_ARXIV_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
            options["offline"] = True
        options.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**options)

    @property
    def offline(self) -> bool:
        return self.offline_reason is not None

    def search(self, query: str, max_results: int = 10) -> SearchResult:
        """Up to `max_results` papers for `query`, by arXiv's relevance order.

        Offline, the cached pages are returned (possibly none) with `offline=True`; it raises only for a bad query
        (LiteratureQueryError) or an arXiv that keeps failing past the retries or the deadline (ArxivUnavailableError).
        """
        import arxiv

        arxiv_query = to_arxiv_query(query)
        if not 1 <= max_results <= MAX_RESULTS:
            raise LiteratureQueryError(
                f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}", hint="ask for fewer papers"
            )
        outcome = SearchResult(query=query, arxiv_query=arxiv_query, papers=[])
        deadline = time.monotonic() + self.deadline_s
        client = _client_class()(self, outcome, deadline, min(self.page_size, max_results))
        search = arxiv.Search(query=arxiv_query, max_results=max_results, sort_by=arxiv.SortCriterion.Relevance)
        papers: dict[str, Paper] = {}
        try:
            for result in client.results(search):
                paper = paper_from_arxiv(result)
                if paper is not None and paper.id not in papers:
                    papers[paper.id] = paper
        except _Offline:
            outcome.offline = True
        outcome.papers = list(papers.values())
        return outcome

    # -- one page: cache, rate limit, retries, deadline -------------------------------------------------------
    def fetch(self, url: str, outcome: SearchResult, deadline: float, *, first_page: bool) -> bytes:
        """The Atom bytes for one API URL, from the cache or from arXiv (then cached)."""
        cached = self.cache.get(url)
        if cached is not None:
            outcome.cache_hits += 1
            return cached
        if self.offline:
            raise _Offline
        import requests

        if self._session is None:
            self._session = requests.Session()
        problem = "no attempt was made"
        for attempt in range(self.retries + 1):
            _wait_for_slot(self.host, self.min_interval_s, deadline)
            remaining = deadline - time.monotonic()
            wait_s = min(self.backoff_s * 2**attempt, 30.0)
            try:
                outcome.requests += 1
                self.requests_sent += 1
                response = self._session.get(
                    url, timeout=max(0.1, min(self.timeout_s, remaining)), headers={"User-Agent": _user_agent()}
                )
            except requests.exceptions.ConnectionError as err:
                if _unreachable(err):  # refused, unresolvable, unroutable: no network. Say so once, go offline.
                    self._go_offline(f"{err.__class__.__name__}: {_first_line(err)}")
                    raise _Offline from err
                problem = f"connection dropped ({_first_line(err)})"  # reached arXiv, then lost it: retry
            except requests.exceptions.Timeout as err:
                problem = f"no answer within {self.timeout_s:g} s ({err.__class__.__name__})"
            else:
                status = response.status_code
                if status == 200:
                    content: bytes = response.content
                    problem = _atom_problem(content, expect_entries=not first_page) or ""
                    if not problem:
                        self.cache.put(url, content)
                        return content
                elif status in TRANSIENT_STATUS:
                    problem = f"HTTP {status}"
                    wait_s = max(wait_s, _retry_after(response.headers.get("Retry-After")))
                else:
                    raise ArxivUnavailableError(
                        f"arXiv refused the search with HTTP {status} ({url})",
                        hint="check the query syntax; this is not retried",
                    )
            if attempt == self.retries:
                break
            if time.monotonic() + wait_s > deadline:
                problem += f"; the next retry would pass the {self.deadline_s:g} s deadline"
                break
            log.info("arXiv request failed (%s); retry %d in %.1f s", problem, attempt + 1, wait_s)
            time.sleep(wait_s)
        raise ArxivUnavailableError(
            f"arXiv gave no usable answer after {outcome.requests} request(s): {problem}",
            hint="arXiv may be rate limiting or down; retry later (cached results are still used)",
        )

    def _go_offline(self, reason: str) -> None:
        if self.offline_reason is None:
            self.offline_reason = reason
            log.warning(
                "arXiv is unreachable (%s): continuing offline with the local index and the search cache only", reason
            )


def _user_agent() -> str:
    from importlib.metadata import version

    return f"scientist/{version('scientist')} (arxiv.py {version('arxiv')})"


def _unreachable(err: BaseException) -> bool:
    """True when no connection could be made at all (urllib3's NewConnectionError and NameResolutionError are
    ConnectTimeoutErrors); False for a connection that was made and then dropped."""
    from urllib3.exceptions import ConnectTimeoutError

    reason = getattr(err.args[0], "reason", err.args[0]) if err.args else None
    return isinstance(reason, ConnectTimeoutError)


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0][:200] if str(err) else err.__class__.__name__


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0), 0.0), 60.0)
    except ValueError:
        return 0.0


@functools.cache
def _client_class() -> type[Any]:
    """An arxiv.Client whose page fetch goes through Literature.fetch (built lazily: `arxiv` imports requests)."""
    import arxiv
    from arxiv import _feed

    class Client(arxiv.Client):  # type: ignore[misc]
        def __init__(self, literature: Literature, outcome: SearchResult, deadline: float, page_size: int) -> None:
            super().__init__(page_size=page_size, delay_seconds=0.0, num_retries=0)
            self.query_url_format = literature.base_url + "?{}"
            self._literature = literature
            self._outcome = outcome
            self._deadline = deadline

        def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> Any:
            content = self._literature.fetch(url, self._outcome, self._deadline, first_page=first_page)
            return _feed.parse(content)

    return Client


def iter_papers_in_atom(content: bytes) -> Iterator[Paper]:
    """Papers in a saved arXiv Atom feed (for `scientist index import FILE.xml`)."""
    from arxiv import _feed

    problem = _atom_problem(content)
    if problem:
        raise LiteratureError(f"the file is {problem}", hint="give an arXiv API Atom response or a JSONL file")
    for result in _feed.parse(content).results:
        paper = paper_from_arxiv(result)
        if paper is not None:
            yield paper
