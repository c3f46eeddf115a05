"""Loopback servers speaking OpenAlex's, Semantic Scholar's and Crossref's documented JSON, and enforcing their rules.

Each stub checks what its API documents (parameter names and bounds, filter syntax, Semantic Scholar's `x-api-key`
header when a key is required) and answers a 400/403 in the API's error shape when a request breaks them, so a
client that builds requests wrongly fails the tests. Records are CONSTRUCTED (fictional titles, ids 0000.xxxxx and
DOIs under the 10.5555 test prefix) in the shapes the documentation shows. `script` queues one-off answers (429 with
Retry-After, 500, garbage) that are used first; `always` answers every request the same way. Only 127.0.0.1 is bound.

The fixtures the scholarly tests share (`fresh_breakers`, `crossref`, `openalex`, `s2`) are defined here once; the
root conftest loads this module as a plugin (`pytest_plugins`), and a module asks for the breaker reset with
`pytestmark = pytest.mark.usefixtures("fresh_breakers")`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.arxiv_stub import Answer

S2_TEST_KEY = "s2-test-key-DO-NOT-LOG"


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


def inverted_index(text: str) -> dict[str, list[int]]:
    """OpenAlex's abstract_inverted_index of a text (word → positions), as its Work object documents it."""
    index: dict[str, list[int]] = {}
    for position, word in enumerate(text.split()):
        index.setdefault(word, []).append(position)
    return index


# -- constructed records (one fictional paper set, seen by each API in its own shape) ------------------------------
GAMING = "CONSTRUCTED TEST RECORD. An agent trained with a proxy reward learns to wait beside the respawn point."
MISGEN = "CONSTRUCTED TEST RECORD. A policy that reached the goal in training pursues a proxy of it under shift."
DEBATE = "CONSTRUCTED TEST RECORD. Two models argue and a weak judge decides which answer is supported."
TAMPER = "CONSTRUCTED TEST RECORD. An agent that can edit its reward signal does so when the edit is reachable."

OPENALEX_WORKS: list[dict[str, Any]] = [
    {
        "id": "https://openalex.org/W0000000001",
        "doi": "https://doi.org/10.48550/arxiv.0000.00001",
        "title": "Constructed Fixture: Reward Hacking in a Respawning-Coin Gridworld",
        "display_name": "Constructed Fixture: Reward Hacking in a Respawning-Coin Gridworld",
        "publication_year": 2019,
        "publication_date": "2019-01-03",
        "authorships": [{"author": {"id": "https://openalex.org/A1", "display_name": "Ada Fixture"}}],
        "abstract_inverted_index": inverted_index(GAMING),
        "locations": [{"landing_page_url": "https://arxiv.org/abs/0000.00001", "pdf_url": None}],
    },
    {
        "id": "https://openalex.org/W0000000002",
        "doi": "https://doi.org/10.5555/FIXTURE.0002",
        "title": "Constructed Fixture: Goal Misgeneralization Under Distribution Shift",
        "display_name": "Constructed Fixture: Goal Misgeneralization Under Distribution Shift",
        "publication_year": 2021,
        "publication_date": "2021-06-01",
        "authorships": [{"author": {"display_name": "Dora Sample"}}, {"author": {"display_name": "Eli Stub"}}],
        "abstract_inverted_index": inverted_index(MISGEN),
        "locations": [],
    },
    {
        "id": "https://openalex.org/W0000000003",
        "doi": None,
        "title": "Constructed fixture: scalable oversight via recursive debate",
        "display_name": "Constructed fixture: scalable oversight via recursive debate",
        "publication_year": 2023,
        "publication_date": "2023-02-10",
        "authorships": [{"author": {"display_name": "Finn Mock"}}],
        "abstract_inverted_index": None,  # documented: null when OpenAlex has no abstract
        "locations": [],
    },
]

S2_PAPERS: list[dict[str, Any]] = [
    {
        "paperId": "0000000000000000000000000000000000000002",
        "externalIds": {"DOI": "10.5555/fixture.0002", "CorpusId": 2},
        "title": "Constructed Fixture: Goal Misgeneralization Under Distribution Shift",
        "abstract": MISGEN,
        "year": 2021,
        "publicationDate": "2021-06-01",
        "authors": [{"authorId": "1", "name": "Dora Sample"}],
        "url": "https://www.semanticscholar.org/paper/0000000000000000000000000000000000000002",
        "openAccessPdf": {"url": "", "status": None, "license": None, "disclaimer": "No open access copy known."},
    },
    {
        "paperId": "0000000000000000000000000000000000000003",
        "externalIds": {"CorpusId": 3},
        "title": "Constructed Fixture: Scalable Oversight via Recursive Debate!",
        "abstract": DEBATE,
        "year": 2023,
        "publicationDate": None,
        "authors": [{"authorId": "2", "name": "Finn Mock"}],
        "url": "https://www.semanticscholar.org/paper/0000000000000000000000000000000000000003",
        "openAccessPdf": {
            "url": "https://example.org/constructed/0003.pdf",  # never fetched: the tests serve PDFs on loopback
            "status": "GREEN",
            "license": "CCBY",
            "disclaimer": "Notice: constructed test record.",
        },
    },
    {
        "paperId": "0000000000000000000000000000000000000004",
        "externalIds": {"ArXiv": "0000.00009", "DOI": "10.48550/arXiv.0000.00009", "CorpusId": 4},
        "title": "Constructed Fixture: Reward Tampering When the Signal Is Reachable",
        "abstract": TAMPER,
        "year": 2024,
        "publicationDate": "2024-03-05",
        "authors": [{"authorId": "3", "name": "Gus Dummy"}],
        "url": "https://www.semanticscholar.org/paper/0000000000000000000000000000000000000004",
        "openAccessPdf": None,
    },
]

CROSSREF_WORKS: list[dict[str, Any]] = [
    {
        "DOI": "10.5555/fixture.0002",
        "type": "journal-article",
        "title": ["Constructed Fixture: Goal Misgeneralization Under Distribution Shift"],
        "author": [{"given": "Dora", "family": "Sample", "sequence": "first"}],
        "abstract": f"<jats:p>{MISGEN}</jats:p>",
        "issued": {"date-parts": [[2021, 6, 1]]},
        "URL": "https://doi.org/10.5555/fixture.0002",
    },
    {
        "DOI": "10.5555/fixture.0005",
        "type": "proceedings-article",
        "title": ["Constructed Fixture: Side Effects of Impact Regularisation"],
        "author": [{"name": "Fixture Consortium"}],
        "issued": {"date-parts": [[2022]]},
        "URL": "https://doi.org/10.5555/fixture.0005",
    },
]


# -- the server -----------------------------------------------------------------------------------------------------
@dataclass
class JsonStub:
    """One API on a loopback port; `kind` is openalex, s2 or crossref."""

    kind: str
    script: list[Answer] = field(default_factory=list)
    always: Answer | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_key: str | None = None  # s2: when set, requests must carry it in x-api-key
    base_url: str = ""
    connections: int = 0  # TCP connections accepted, with or without a request (a reachability probe sends none)

    def answer(self, path: str, params: dict[str, list[str]], headers: dict[str, str]) -> Answer:
        if self.script:
            return self.script.pop(0)
        if self.always is not None:
            return self.always
        one = {key: values[-1] for key, values in params.items()}
        if self.kind == "openalex":
            return openalex_answer(path, one)
        if self.kind == "s2":
            return s2_answer(path, one, headers, self.api_key)
        return crossref_answer(path, one)

    def count(self, predicate: str = "") -> int:
        return sum(1 for request in self.requests if predicate in request["path"])


def openalex_answer(path: str, params: dict[str, str]) -> Answer:
    def error(message: str) -> Answer:
        return json_answer({"error": "Invalid query parameters error.", "message": message}, 400)

    if path != "/works":
        return json_answer({"error": "Not found", "message": f"{path} is no endpoint"}, 404)
    unknown = set(params) - {"search", "per-page", "per_page", "page", "filter", "mailto", "api_key", "select", "sort"}
    if unknown:
        return error(f"{sorted(unknown)[0]} is not a valid parameter")
    per_page = int(params.get("per-page", params.get("per_page", "25")))
    page = int(params.get("page", "1"))
    if not 1 <= per_page <= 200 or page < 1:
        return error("per-page must be between 1 and 200 and page at least 1")
    works = list(OPENALEX_WORKS)
    if "filter" in params:
        match = re.fullmatch(r"from_publication_date:(\d{4})-(\d{2})-(\d{2})", params["filter"])
        if match is None:
            return error(f"Invalid filter: {params['filter']}")
        works = [work for work in works if work["publication_year"] >= int(match.group(1))]
    start = (page - 1) * per_page
    return json_answer(
        {
            "meta": {"count": len(works), "db_response_time_ms": 3, "page": page, "per_page": per_page},
            "results": works[start : start + per_page],
            "group_by": [],
        }
    )


# The paper fields the Academic Graph API documents for /paper/search (`fields=`); any other name is a 400.
S2_PAPER_FIELDS = frozenset({
    "paperId", "corpusId", "externalIds", "url", "title", "abstract", "venue", "publicationVenue", "year",
    "referenceCount", "citationCount", "influentialCitationCount", "isOpenAccess", "openAccessPdf", "fieldsOfStudy",
    "s2FieldsOfStudy", "publicationTypes", "publicationDate", "journal", "citationStyles", "authors",
})  # fmt: skip


def s2_answer(path: str, params: dict[str, str], headers: dict[str, str], key: str | None) -> Answer:
    if key is not None and headers.get("x-api-key") != key:
        return json_answer({"message": "Forbidden"}, 403)
    if path != "/graph/v1/paper/search":
        return json_answer({"error": f"Unrecognized path {path}"}, 404)
    if not params.get("query"):
        return json_answer({"error": "Missing required parameter: 'query'"}, 400)
    offset, limit = int(params.get("offset", "0")), int(params.get("limit", "100"))
    if limit > 100 or offset + limit > 1000:
        return json_answer({"error": "Requested data exceeds the limit: offset + limit must be <= 1000"}, 400)
    asked = (params.get("fields") or "title").split(",")
    unknown = [name for name in asked if name not in S2_PAPER_FIELDS]
    if unknown:
        return json_answer({"error": f"Unrecognized or unsupported fields: {unknown}"}, 400)
    papers = list(S2_PAPERS)
    if "year" in params:
        match = re.fullmatch(r"(\d{4})-", params["year"])
        if match is None:
            return json_answer({"error": f"Unacceptable year {params['year']}"}, 400)
        papers = [paper for paper in papers if paper["year"] >= int(match.group(1))]
    wanted = {"paperId", *asked}
    page = [{key: value for key, value in paper.items() if key in wanted} for paper in papers[offset : offset + limit]]
    body: dict[str, Any] = {"total": len(papers), "offset": offset, "data": page}
    if offset + limit < len(papers):
        body["next"] = offset + limit
    return json_answer(body)


CROSSREF_RATE = {"x-rate-limit-limit": "5", "x-rate-limit-interval": "1s"}


def crossref_answer(path: str, params: dict[str, str]) -> Answer:
    if path.startswith("/works/"):
        doi = unquote(path[len("/works/") :]).lower()
        for work in CROSSREF_WORKS:
            if work["DOI"] == doi:
                return json_answer(
                    {"status": "ok", "message-type": "work", "message-version": "1.0.0", "message": work},
                    headers=CROSSREF_RATE,
                )
        return Answer(status=404, body=b"Resource not found.", headers={"Content-Type": "text/plain", **CROSSREF_RATE})
    if path != "/works":
        return Answer(status=404, body=b"Resource not found.", headers={"Content-Type": "text/plain"})
    rows, offset = int(params.get("rows", "20")), int(params.get("offset", "0"))
    if rows > 1000 or offset > 10_000:
        message = [
            {"type": "integer-not-valid", "value": str(rows), "message": "Integer specified as rows must be <= 1000"}
        ]
        return json_answer({"status": "failed", "message-type": "validation-failure", "message": message}, 400)
    works = list(CROSSREF_WORKS)
    if "filter" in params:
        match = re.fullmatch(r"from-pub-date:(\d{4})", params["filter"])
        if match is None:
            return json_answer({"status": "failed", "message-type": "validation-failure", "message": []}, 400)
        works = [work for work in works if work["issued"]["date-parts"][0][0] >= int(match.group(1))]
    items = works[offset : offset + rows]
    message = {"facets": {}, "total-results": len(works), "items": items, "items-per-page": rows, "query": {}}
    return json_answer(
        {"status": "ok", "message-type": "work-list", "message-version": "1.0.0", "message": message},
        headers=CROSSREF_RATE,
    )


def _handler(stub: JsonStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = parse_qs(parts.query, keep_blank_values=True)
            headers = {name.lower(): value for name, value in self.headers.items()}
            stub.requests.append({"path": parts.path, "params": params, "headers": headers, "at": time.monotonic()})
            answer = stub.answer(parts.path, params, headers)
            if answer.drop:
                self.close_connection = True
                return
            try:
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class _CountingServer(ThreadingHTTPServer):
    stub: JsonStub

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.stub.connections += 1
        return True


def serve_json(stub: JsonStub) -> Iterator[JsonStub]:
    server = _CountingServer(("127.0.0.1", 0), _handler(stub))
    server.stub = stub
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    root = f"http://127.0.0.1:{server.server_address[1]}"
    stub.base_url = root + "/graph/v1" if stub.kind == "s2" else root
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


# -- fixtures shared by the scholarly tests (loaded as a plugin by tests/conftest.py) ---------------------------------
@pytest.fixture
def fresh_breakers() -> Iterator[None]:
    """Every source's circuit breaker closed before and after the test: they are process-wide."""
    from scientist.tools.scholarly import reset_breakers

    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture
def crossref() -> Iterator[JsonStub]:
    yield from serve_json(JsonStub("crossref"))


@pytest.fixture
def openalex() -> Iterator[JsonStub]:
    yield from serve_json(JsonStub("openalex"))


@pytest.fixture
def s2() -> Iterator[JsonStub]:
    """Semantic Scholar requiring the key S2_TEST_KEY in x-api-key."""
    yield from serve_json(JsonStub("s2", api_key=S2_TEST_KEY))
