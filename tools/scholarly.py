"""Several scholarly sources behind one interface, with the manners and the fallbacks an unattended build needs.

Why: one source is not enough. arXiv may be unreachable, Semantic Scholar rate-limits hard, OpenAlex has a daily
budget. Each source here answers `search(query, max_results, since)` with `Paper`s; `JsonSource` gives the JSON
sources (OpenAlex, Semantic Scholar, Crossref) what arXiv's `Literature` has: a per-source rate limit for the whole
process, bounded retries on 429/5xx that honour `Retry-After` (a wait longer than `max_retry_after_s` is not waited
for: the source counts as failed and the next one is asked), the on-disk response cache, and one-line errors.
`Sources` asks them in a configured order, skips a source whose circuit breaker is open (it failed
`breaker_threshold` searches in a row; said once, as a warning) and merges the answers, de-duplicated by DOI,
arXiv id and normalised title.

Nothing here is used by a default run: the ideation path keeps `Literature` (arXiv) as it was.
"""

from __future__ import annotations

import abc
import email.utils
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, Field, ValidationError

from scientist.config import default_cache_dir
from scientist.errors import ConfigError
from scientist.tools.literature import (
    ArxivUnavailableError,
    Literature,
    LiteratureError,
    LiteratureQueryError,
    Paper,
    ResponseCache,
    _first_line,
    _unreachable,
    normalize_id,
    parse_arxiv_id,
)
from scientist.tools.literature import normalize_doi as normalize_doi  # re-exported: the sources import it here

log = logging.getLogger(__name__)

SOURCE_NAMES = ("arxiv", "openalex", "semantic_scholar", "crossref")
DEFAULT_BUILD_ORDER = ("arxiv", "openalex", "semantic_scholar")
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_ID_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


class SourceError(LiteratureError):
    """A scholarly source could not answer a search (it is then skipped in favour of the next one)."""


class SourceUnavailableError(SourceError):
    """The source kept failing (429/5xx/timeouts) past the retries, the deadline or a too-long `Retry-After`."""


class SourceResponseError(SourceError):
    """The source answered 200 with something that is not its documented JSON shape."""


class SourceConfigError(ConfigError):
    """An unknown source name, or a bad source setting."""


# -- identifiers and de-duplication ---------------------------------------------------------------------------------
def normalize_title(title: str) -> str:
    """A title reduced to lowercase letters and digits separated by single blanks (accents, case, punctuation
    and LaTeX braces differ between sources for the same paper)."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(char for char in text if not unicodedata.combining(char)).lower()
    return " ".join(re.findall(r"[^\W_]+", text))


def arxiv_id_of(value: str | None) -> str | None:
    """The versionless arXiv id in an id, URL or arXiv DOI (10.48550/arXiv.2107.05580), else None."""
    if not value:
        return None
    text = value.strip()
    match = re.match(r"^(?:https?://(?:dx\.)?doi\.org/)?10\.48550/arxiv\.(.+)$", text, flags=re.IGNORECASE)
    if match:
        text = match.group(1)
    try:
        return parse_arxiv_id(text)[0]
    except ValueError:
        return None


class Record(BaseModel):
    """One paper as a source found it, with the identifiers de-duplication needs (not all fit `Paper`)."""

    paper: Paper
    doi: str | None = None
    arxiv_id: str | None = None
    sources: list[str] = Field(default_factory=list)
    pdf_url: str | None = Field(default=None, description="an open-access PDF the source links (full-text chunks)")

    def identity_keys(self) -> list[str]:
        keys = [f"doi:{self.doi}"] if self.doi else []
        if self.arxiv_id:
            keys.append(f"arxiv:{self.arxiv_id}")
        title = normalize_title(self.paper.title)
        if len(title) >= 12:  # a very short title ("Introduction") is no identity
            keys.append(f"title:{title}")
        return keys


def make_record(
    source: str,
    *,
    native_id: str,
    title: str | None,
    abstract: str | None,
    authors: Iterable[str] = (),
    doi: str | None = None,
    arxiv_id: str | None = None,
    published: datetime | None = None,
    url: str | None = None,
) -> Record | None:
    """A Record from one source's fields; None when there is no title. The index key is the arXiv id when known
    (so the same paper from arXiv and from OpenAlex is one entry), else `doi:<doi>`, else `<source>:<native id>`."""
    if not title or not title.strip():
        return None
    doi = normalize_doi(doi)
    arxiv_id = arxiv_id or arxiv_id_of(doi)
    safe_native = re.sub(r"[^A-Za-z0-9._:/-]", "_", native_id)  # DOIs may hold ( ) ; < > which ids cannot
    candidates = [arxiv_id, f"doi:{doi}" if doi else None, f"{source}:{native_id}", f"{source}:{safe_native}"[:100]]
    paper_id = next(
        (value for value in candidates if value and len(value) <= 100 and _ID_CHARS.match(value)),
        None,
    )
    if paper_id is None:
        return None
    if url is None:
        url = f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else (f"https://doi.org/{doi}" if doi else None)
    paper = Paper(
        id=paper_id,
        title=title[:1000],
        authors=[name for name in authors if name],
        abstract=(abstract or "")[:20_000],
        published=published,
        url=url,
        source=source,
        doi=doi,
    )
    return Record(paper=paper, doi=doi, arxiv_id=arxiv_id, sources=[source])


def merge(records: Iterable[Record]) -> list[Record]:
    """De-duplicate by DOI, arXiv id and normalised title; the first copy (the earlier source) wins and the later
    ones only fill what it lacks (an abstract, authors, a date, a DOI or an arXiv id)."""
    merged: list[Record] = []
    by_key: dict[str, int] = {}
    for record in records:
        position = next((by_key[key] for key in record.identity_keys() if key in by_key), None)
        if position is None:
            merged.append(record)
            position = len(merged) - 1
        else:
            merged[position] = _combine(merged[position], record)
        for key in merged[position].identity_keys():
            by_key.setdefault(key, position)
    return merged


def _combine(kept: Record, other: Record) -> Record:
    paper, extra = kept.paper, other.paper
    arxiv_id = kept.arxiv_id or other.arxiv_id
    updates: dict[str, Any] = {}
    if not paper.abstract and extra.abstract:
        updates["abstract"] = extra.abstract
    if not paper.authors and extra.authors:
        updates["authors"] = extra.authors
    if paper.published is None and extra.published is not None:
        updates["published"] = extra.published
    if paper.doi is None and (extra.doi or other.doi):
        updates["doi"] = extra.doi or other.doi
    if arxiv_id and paper.id != arxiv_id and kept.arxiv_id is None:
        updates["id"] = arxiv_id  # the arXiv id is the index key whenever one is known
        updates["url"] = paper.url or f"https://arxiv.org/abs/{arxiv_id}"
    return Record(
        paper=paper.model_copy(update=updates) if updates else paper,
        doi=kept.doi or other.doi,
        arxiv_id=arxiv_id,
        sources=[*kept.sources, *(name for name in other.sources if name not in kept.sources)],
        pdf_url=kept.pdf_url or other.pdf_url,
    )


# -- the interface --------------------------------------------------------------------------------------------------
class Source(Protocol):
    name: str

    def search(self, query: str, max_results: int, since: int | None = None) -> list[Record]:
        """Up to `max_results` records for `query` (published in or after `since`); SourceError if it cannot."""
        ...


# -- rate limit, Retry-After, circuit breaker -----------------------------------------------------------------------
_slot_lock = threading.Lock()
_next_slot: dict[str, float] = {}


def wait_for_slot(name: str, interval_s: float, deadline: float) -> None:
    """One request per `interval_s` per source for the whole process (two builds share the source's limit)."""
    with _slot_lock:
        now = time.monotonic()
        start = max(now, _next_slot.get(name, -float("inf")))
        if start > deadline:
            raise SourceUnavailableError(
                f"{name}: the search ran out of time waiting for the source's rate limit",
                hint="raise the search deadline or issue fewer queries",
            )
        _next_slot[name] = start + interval_s  # reserve the slot before sleeping, so concurrent callers queue up
    time.sleep(max(0.0, start - now))


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class CircuitBreaker:
    """Open after `threshold` failed searches in a row: the source is skipped for the rest of the process, and the
    warning that says so is logged once. A success closes the count again (only while the breaker is closed)."""

    def __init__(self, name: str, threshold: int = 3) -> None:
        self.name = name
        self.threshold = max(1, threshold)
        self.failures = 0
        self.open = False
        self.reason = ""

    def success(self) -> None:
        if not self.open:
            self.failures = 0

    def failure(self, reason: str) -> None:
        self.failures += 1
        self.reason = reason
        if not self.open and self.failures >= self.threshold:
            self.open = True
            log.warning(
                "%s failed %d searches in a row (last: %s): skipping it for the rest of this run",
                self.name,
                self.failures,
                reason,
            )


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker(name: str, threshold: int = 3) -> CircuitBreaker:
    """The process-wide breaker of a source (every `Sources` of this process shares it)."""
    with _breakers_lock:
        if name not in _breakers:
            _breakers[name] = CircuitBreaker(name, threshold)
        return _breakers[name]


def reset_breakers() -> None:
    """Close every breaker (a new run in the same process, and tests)."""
    with _breakers_lock:
        _breakers.clear()


# -- JSON sources ---------------------------------------------------------------------------------------------------
class _Transient(Exception):
    """Internal: a failure worth retrying; `wait_s` is how long the server asked us to wait (Retry-After)."""

    def __init__(self, problem: str, wait_s: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.wait_s = wait_s


class JsonSource(abc.ABC):
    """A JSON HTTP API: rate limited, retried (tenacity) within a deadline, cached on disk by path and query.

    Subclasses set `name`, `default_url`, `min_interval_s`, and implement `requests_for` (the URLs of one search,
    page by page) and `parse` (one page's JSON → records, raising SourceResponseError for a wrong shape).
    Parameters that carry credentials are named in `secret_params`: they are sent but never part of the cache key,
    an error message or a log line.
    """

    name: str = ""
    default_url: str = ""
    min_interval_s: float = 1.0
    secret_params: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        *,
        base_url: str | None = None,
        cache_dir: Path | None = None,
        min_interval_s: float | None = None,
        retries: int = 3,
        backoff_s: float = 2.0,
        max_retry_after_s: float = 60.0,
        timeout_s: float = 20.0,
        deadline_s: float = 120.0,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.cache = ResponseCache(cache_dir or default_cache_dir() / "sources" / self.name, suffix=".json")
        if min_interval_s is not None:
            self.min_interval_s = max(0.0, min_interval_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.requests_sent = 0
        self.cache_hits = 0
        self._session: Any = None

    # -- to implement -----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def requests_for(self, query: str, max_results: int, since: int | None) -> Iterable[tuple[str, dict[str, str]]]:
        """The (path, params) of each page of one search, in order (a source stops asking when `parse` says so)."""

    @abc.abstractmethod
    def parse(self, data: Any) -> tuple[list[Record], bool]:
        """(records of one page, whether more pages exist)."""

    def on_response(self, headers: Mapping[str, str]) -> None:
        """Hook: a source that advertises its limits in headers adapts `min_interval_s` (Crossref does)."""
        return None  # by default a source keeps its configured interval

    # -- the search -------------------------------------------------------------------------------------------
    def search(self, query: str, max_results: int, since: int | None = None) -> list[Record]:
        if not query.strip():
            raise LiteratureQueryError("the search query is empty", hint="give a few keywords, e.g. 'reward hacking'")
        deadline = time.monotonic() + self.deadline_s
        records: list[Record] = []
        for path, params in self.requests_for(query.strip(), max_results, since):
            page, more = self.parse(self.get_json(path, params, deadline))
            records.extend(page)
            if not more or len(records) >= max_results:
                break
        return records[:max_results]

    def url(self, path: str, params: Mapping[str, str], *, secrets: bool) -> str:
        every = {**params, **self.params}
        shown = {key: value for key, value in every.items() if secrets or key not in self.secret_params}
        return f"{self.base_url}{path}" + (f"?{urlencode(sorted(shown.items()))}" if shown else "")

    def redact(self, text: str) -> str:
        """`text` (an exception's message may quote the full URL) without the value of any secret parameter."""
        for name in self.secret_params:
            if secret := self.params.get(name):
                text = text.replace(secret, "***")
        return text

    def get_json(self, path: str, params: Mapping[str, str], deadline: float) -> Any:
        """One page's JSON from the cache or the source (then cached). The cache key leaves out the host (a cache
        recorded against the real host answers for a test server) and every secret parameter."""
        import json

        public_url = self.url(path, params, secrets=False)
        key_url = "?" + urlsplit(public_url).path + "?" + urlsplit(public_url).query
        cached = self.cache.get(key_url)
        if cached is not None:
            self.cache_hits += 1
            return json.loads(cached)
        content = self._fetch(path, params, deadline, public_url)
        try:
            data = json.loads(content)
        except ValueError as err:  # checked in _fetch; kept for type narrowing
            raise SourceResponseError(f"{self.name} answered malformed JSON ({err})") from err
        self.cache.put(key_url, content)
        return data

    def _fetch(self, path: str, params: Mapping[str, str], deadline: float, public_url: str) -> bytes:
        import json

        import requests
        from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

        if self._session is None:
            self._session = requests.Session()
        full_url = self.url(path, params, secrets=True)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            backoff = min(self.backoff_s * float(2 ** (state.attempt_number - 1)), 30.0)
            asked = error.wait_s if isinstance(error, _Transient) and error.wait_s is not None else 0.0
            return max(backoff, asked)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            sleep_s = state.next_action.sleep if state.next_action else 0.0
            if time.monotonic() + sleep_s > deadline:
                raise SourceUnavailableError(
                    f"{self.name} gave no usable answer ({error}); the next retry would pass the"
                    f" {self.deadline_s:g} s deadline",
                    hint="the next source is asked instead; retry later (cached answers are still used)",
                )
            log.info("%s request failed (%s); retry %d in %.1f s", self.name, error, state.attempt_number, sleep_s)

        def attempt() -> bytes:
            wait_for_slot(self.name, self.min_interval_s, deadline)
            remaining = max(0.1, min(self.timeout_s, deadline - time.monotonic()))
            self.requests_sent += 1
            try:
                response = self._session.get(
                    full_url, timeout=remaining, headers={"User-Agent": _user_agent(), **self.headers}
                )
            except requests.exceptions.ConnectionError as err:
                if _unreachable(err):  # refused, unresolvable, unroutable: retrying cannot help, ask the next source
                    raise SourceUnavailableError(
                        f"{self.name} is unreachable ({self.redact(_first_line(err))})",
                        hint="the next source is asked instead; check the network or the source's URL",
                    ) from None
                raise _Transient(f"connection dropped ({err.__class__.__name__})") from None
            except requests.exceptions.Timeout:
                raise _Transient(f"no answer within {remaining:.1f} s") from None
            self.on_response(response.headers)
            status = response.status_code
            if status == 200:
                content: bytes = response.content
                try:
                    json.loads(content)
                except ValueError:
                    raise _Transient("malformed JSON in a 200 answer") from None
                return content
            if status in TRANSIENT_STATUS:
                asked = retry_after_s(response.headers.get("Retry-After"))
                if asked is not None and asked > self.max_retry_after_s:
                    raise SourceUnavailableError(
                        f"{self.name} answered HTTP {status} and asked to wait {asked:.0f} s (Retry-After), more"
                        f" than the {self.max_retry_after_s:g} s this search waits",
                        hint="the next source is asked instead; its daily budget may be spent",
                    )
                raise _Transient(f"HTTP {status}{_error_detail(response)}", asked)
            raise SourceError(
                f"{self.name} refused the search with HTTP {status}{_error_detail(response)} ({public_url})",
                hint="check the query or the source's API key; this is not retried",
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as err:
            raise SourceUnavailableError(
                f"{self.name} gave no usable answer after {self.retries + 1} attempt(s): {err.problem}",
                hint="the next source is asked instead; retry later (cached answers are still used)",
            ) from None


def _error_detail(response: Any) -> str:
    """The documented error text of a JSON error body (`message`/`error`), shortened; never the request."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for field in ("message", "error"):
            value = body.get(field)
            if isinstance(value, str) and value.strip():
                return f": {value.strip()[:200]}"
    return ""


def _user_agent() -> str:
    from importlib.metadata import version

    return f"scientist/{version('scientist')}"


def validated(model: type[BaseModel], data: Any, source: str) -> Any:
    """`data` as `model`, or a SourceResponseError naming the first field that does not fit the documented shape."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        raise SourceResponseError(
            f"{source} answered JSON that is not its documented shape ({where}: {first['msg']})",
            hint="the API may have changed or a proxy answered; the next source is asked instead",
        ) from err


def year_start(year: int | None) -> datetime | None:
    return datetime(year, 1, 1, tzinfo=UTC) if year else None


def parse_date(value: str | None) -> datetime | None:
    """'2021-07-12' or '2021' → an aware datetime; None for anything else."""
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


# -- arXiv behind the same interface --------------------------------------------------------------------------------
class ArxivSource:
    """The existing arXiv client (`Literature`) as a Source. arXiv's API has no date filter in free-text search,
    so `since` filters the results afterwards."""

    name = "arxiv"

    def __init__(self, literature: Literature | None = None) -> None:
        self.literature = literature or Literature.from_env()

    def search(self, query: str, max_results: int, since: int | None = None) -> list[Record]:
        try:
            result = self.literature.search(query, max_results=max_results)
        except ArxivUnavailableError as err:
            raise SourceUnavailableError(f"arxiv: {err.message}", hint=err.hint) from err
        if result.offline and not result.papers:
            raise SourceUnavailableError(
                f"arxiv is unreachable ({self.literature.offline_reason}) and the cache has no answer",
                hint="the next source is asked instead",
            )
        records = []
        for paper in result.papers:
            if since and paper.published and paper.published.year < since:
                continue
            records.append(Record(paper=paper, arxiv_id=normalize_id(paper.id), sources=["arxiv"]))
        return records


# -- several sources ------------------------------------------------------------------------------------------------
class SourceOutcome(BaseModel):
    name: str
    found: int = 0
    error: str | None = None
    skipped: bool = False


class MergedResult(BaseModel):
    query: str
    records: list[Record]
    outcomes: list[SourceOutcome]

    @property
    def papers(self) -> list[Paper]:
        return [record.paper for record in self.records]


class Sources:
    """Ask the sources in order until `max_results` distinct papers are found; a source that fails is skipped for
    this search (and after `breaker_threshold` failures in a row, for the rest of the process)."""

    def __init__(self, sources: Sequence[Source], *, breaker_threshold: int = 3) -> None:
        if not sources:
            raise SourceConfigError("no literature source is configured", hint=f"use some of {', '.join(SOURCE_NAMES)}")
        self.sources = list(sources)
        self.breaker_threshold = breaker_threshold

    def search(self, query: str, max_results: int, since: int | None = None) -> MergedResult:
        records: list[Record] = []
        outcomes: list[SourceOutcome] = []
        for source in self.sources:
            guard = breaker(source.name, self.breaker_threshold)
            if guard.open:
                outcomes.append(SourceOutcome(name=source.name, skipped=True, error=guard.reason))
                continue
            try:
                found = source.search(query, max_results, since)
            except LiteratureQueryError:
                raise
            except SourceError as err:
                guard.failure(err.message)
                outcomes.append(SourceOutcome(name=source.name, error=err.message))
                continue
            guard.success()
            outcomes.append(SourceOutcome(name=source.name, found=len(found)))
            records = merge([*records, *found])
            if len(records) >= max_results:
                break
        if not records and outcomes and all(outcome.error for outcome in outcomes):
            raise SourceUnavailableError(
                f"no literature source could answer {query!r}: "
                + "; ".join(f"{outcome.name}: {outcome.error}" for outcome in outcomes),
                hint="check the network, or add papers from a file with `scientist index import FILE`",
            )
        return MergedResult(query=query, records=records[:max_results], outcomes=outcomes)


def env_options(prefix: str, **overrides: Any) -> dict[str, Any]:
    """`SCIENTIST_<PREFIX>_URL` / `_MIN_INTERVAL_S` and `SCIENTIST_LITERATURE_CACHE_DIR`, then `overrides`."""
    options: dict[str, Any] = {}
    if url := os.environ.get(f"SCIENTIST_{prefix}_URL"):
        options["base_url"] = url
    if cache := os.environ.get("SCIENTIST_LITERATURE_CACHE_DIR"):
        options["cache_dir"] = Path(cache).expanduser() / prefix.lower()
    if interval := os.environ.get(f"SCIENTIST_{prefix}_MIN_INTERVAL_S"):
        try:
            options["min_interval_s"] = max(0.0, float(interval))
        except ValueError as err:
            raise SourceConfigError(
                f"SCIENTIST_{prefix}_MIN_INTERVAL_S must be a number of seconds, got {interval!r}", hint="e.g. 1"
            ) from err
    options.update({key: value for key, value in overrides.items() if value is not None})
    return options
