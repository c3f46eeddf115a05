"""arXiv search against a loopback server replaying constructed Atom responses: paging, empty results, malformed
XML, 429/503 with retry, 400 without, the on-disk cache, offline mode, the rate limit and the deadline."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scientist.tools.literature import (
    ArxivUnavailableError,
    Literature,
    LiteratureQueryError,
    Paper,
    normalize_id,
    parse_arxiv_id,
    to_arxiv_query,
)
from tests.arxiv_stub import Answer, ArxivStub, closed_port_url, fixture, serve


@pytest.fixture
def arxiv_stub() -> Iterator[ArxivStub]:
    yield from serve(ArxivStub())


def make(stub_url: str, tmp_path: Path, **overrides: object) -> Literature:
    options: dict[str, object] = {
        "cache_dir": tmp_path / "arxiv-cache",
        "base_url": stub_url,
        "min_interval_s": 0.0,
        "backoff_s": 0.01,
        "retries": 2,
        "timeout_s": 5.0,
        "deadline_s": 30.0,
        "page_size": 2,
    }
    options.update(overrides)
    return Literature(**options)


def test_paging_collects_every_page_and_normalises_papers(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    result = make(arxiv_stub.base_url, tmp_path).search("reward hacking in gridworlds", max_results=10)
    assert [paper.id for paper in result.papers] == [f"0000.0000{n}" for n in range(1, 6)]
    assert result.requests == 3 and not result.offline and not result.cached
    starts = [request["params"]["start"][0] for request in arxiv_stub.requests]
    assert starts == ["0", "2", "4"]
    assert arxiv_stub.queries[0] == "all:reward AND all:hacking AND all:gridworlds"
    first = result.papers[0]
    assert first.version == 2 and first.versioned_id == "0000.00001v2"
    assert first.title == "Constructed Fixture: Reward Hacking in a Respawning-Coin Gridworld"
    assert first.authors == ["Ada Fixture", "Ben Placeholder"]
    assert first.categories == ["cs.LG", "cs.AI"] and first.primary_category == "cs.LG"
    assert first.published == datetime(2000, 1, 3, 10, 0, tzinfo=UTC)
    assert first.updated == datetime(2000, 2, 1, 9, 30, tzinfo=UTC)
    assert first.url == "https://arxiv.org/abs/0000.00001"
    assert first.abstract.startswith("CONSTRUCTED TEST RECORD") and "\n" not in first.abstract


def test_max_results_stops_paging_early(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    result = make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=3)
    assert len(result.papers) == 3
    assert len(arxiv_stub.requests) == 2


def test_empty_result_is_not_an_error_and_is_cached(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.default_pages = False
    literature = make(arxiv_stub.base_url, tmp_path)
    assert literature.search("zzzqqq").papers == []
    again = literature.search("zzzqqq")
    assert again.papers == [] and again.cached and len(arxiv_stub.requests) == 1


def test_repeated_query_is_served_from_the_disk_cache(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    first = make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=10)
    sent = len(arxiv_stub.requests)
    # A new object (a new process, in effect) with the same cache folder sends nothing.
    second = make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=10)
    assert len(arxiv_stub.requests) == sent
    assert second.cached and second.requests == 0 and second.cache_hits == 3
    assert second.papers == first.papers
    # A different query is a different cache entry.
    make(arxiv_stub.base_url, tmp_path).search("side effects", max_results=2)
    assert len(arxiv_stub.requests) == sent + 1


@pytest.mark.parametrize("status", [429, 503])
def test_transient_status_is_retried_with_backoff(arxiv_stub: ArxivStub, tmp_path: Path, status: int) -> None:
    arxiv_stub.script = [Answer(status=status, body=b"busy", headers={"Retry-After": "0"})]
    result = make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=2)
    assert len(result.papers) == 2 and result.requests == 2
    assert len(arxiv_stub.requests) == 2


def test_a_dropped_connection_is_retried_not_taken_for_offline(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(drop=True)]
    literature = make(arxiv_stub.base_url, tmp_path)
    assert len(literature.search("reward hacking", max_results=2).papers) == 2
    assert not literature.offline and len(arxiv_stub.requests) == 2


def test_retries_are_bounded_and_the_error_is_clear(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(status=503, body=b"down")] * 10
    literature = make(arxiv_stub.base_url, tmp_path, retries=2)
    with pytest.raises(ArxivUnavailableError, match=r"after 3 request\(s\): HTTP 503"):
        literature.search("reward hacking")
    assert len(arxiv_stub.requests) == 3
    assert not literature.offline  # an answering server is not 'offline'
    assert not list((tmp_path / "arxiv-cache").rglob("*.atom"))  # failures are never cached


def test_malformed_xml_is_an_error_not_an_empty_result(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(body=fixture("malformed.xml"))] * 2 + [Answer(body=b"<html>Bad Gateway</html>")]
    with pytest.raises(ArxivUnavailableError, match=r"malformed XML|not an Atom feed"):
        make(arxiv_stub.base_url, tmp_path, retries=2).search("reward hacking")
    assert len(arxiv_stub.requests) == 3


def test_malformed_page_then_good_page_recovers(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(body=fixture("malformed.xml"))]
    result = make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=2)
    assert [paper.id for paper in result.papers] == ["0000.00001", "0000.00002"]


def test_an_unexpectedly_empty_follow_up_page_is_retried(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(body=fixture("page_0.xml")), Answer(body=fixture("empty.xml"))]
    result = make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=10)
    assert len(result.papers) == 5
    assert [request["params"]["start"][0] for request in arxiv_stub.requests] == ["0", "2", "2", "4"]


def test_bad_request_is_not_retried(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(status=400, body=fixture("error_400.xml"))]
    with pytest.raises(ArxivUnavailableError, match="HTTP 400"):
        make(arxiv_stub.base_url, tmp_path).search("ti:(")
    assert len(arxiv_stub.requests) == 1


def test_error_entries_are_not_papers(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(body=fixture("error_400.xml"))]
    assert make(arxiv_stub.base_url, tmp_path).search("ti:(").papers == []


def test_offline_says_so_once_and_serves_the_cache(
    arxiv_stub: ArxivStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make(arxiv_stub.base_url, tmp_path).search("reward hacking", max_results=2)  # fills the cache
    offline = make(closed_port_url(), tmp_path)
    with caplog.at_level(logging.WARNING, logger="scientist.tools.literature"):
        cached = offline.search("reward hacking", max_results=2)
        assert len(cached.papers) == 2 and not cached.offline and not offline.offline  # no network was needed
        fresh = offline.search("interpretability probes")
        again = offline.search("side effects")
    assert fresh.offline and fresh.papers == [] and fresh.requests == 1
    assert again.offline and again.requests == 0  # once offline, it does not keep knocking
    assert offline.offline and "ConnectionError" in (offline.offline_reason or "")
    warnings = [record for record in caplog.records if "unreachable" in record.getMessage()]
    assert len(warnings) == 1


def test_forced_offline_sends_nothing(tmp_path: Path) -> None:
    literature = make(closed_port_url(), tmp_path, offline=True)
    result = literature.search("reward hacking")
    assert result.offline and result.requests == 0 and literature.requests_sent == 0


def test_requests_respect_the_minimum_interval(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    make(arxiv_stub.base_url, tmp_path, min_interval_s=0.3).search("reward hacking", max_results=10)
    times = [request["at"] for request in arxiv_stub.requests]
    assert len(times) == 3
    # Stamped on arrival at the server: a loaded machine may deliver one request late, shrinking the next gap by that
    # delay (0.1 s allowed). Without the limiter the gaps are a few milliseconds.
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(times))


def test_a_slow_server_hits_the_deadline_instead_of_hanging(arxiv_stub: ArxivStub, tmp_path: Path) -> None:
    arxiv_stub.script = [Answer(delay_s=1.0, body=fixture("page_0.xml"))] * 5
    literature = make(arxiv_stub.base_url, tmp_path, timeout_s=0.2, deadline_s=0.5, backoff_s=0.2, retries=5)
    with pytest.raises(ArxivUnavailableError, match=r"deadline|no answer"):
        literature.search("reward hacking")
    assert len(arxiv_stub.requests) < 6


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "empty"), ("   ", "empty"), ("x" * 10_000, "10000 characters"), ("the of and", "no searchable words")],
)
def test_bad_queries_are_refused_before_any_request(
    arxiv_stub: ArxivStub, tmp_path: Path, query: str, message: str
) -> None:
    with pytest.raises(LiteratureQueryError, match=message):
        make(arxiv_stub.base_url, tmp_path).search(query)
    assert arxiv_stub.requests == []


def test_query_translation() -> None:
    assert to_arxiv_query("Reward hacking, in a gridworld!") == "all:reward AND all:hacking AND all:gridworld"
    assert to_arxiv_query('ti:"reward hacking" AND cat:cs.LG') == 'ti:"reward hacking" AND cat:cs.LG'
    many = to_arxiv_query("one two three four five six seven eight")
    assert many == "all:one AND all:two AND all:three AND all:four AND all:five AND all:six"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2107.05580", ("2107.05580", None)),
        ("2107.05580v3", ("2107.05580", 3)),
        ("arXiv:1606.06565v2", ("1606.06565", 2)),
        ("https://arxiv.org/abs/1711.09883v1", ("1711.09883", 1)),
        ("http://arxiv.org/pdf/2001.00001v2.pdf", ("2001.00001", 2)),
        ("hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
    ],
)
def test_arxiv_ids_parse(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == expected


@pytest.mark.parametrize("text", ["", "not-an-id", "2107.055", "https://example.org/abs/2107.05580"])
def test_non_arxiv_ids_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_arxiv_id(text)
    assert normalize_id(f" {text} ") == text.strip()


def test_paper_text_splits_back_into_title_and_abstract() -> None:
    paper = Paper(id="0000.00009v4", title="A  title\nover lines", abstract="Line one.\n\nLine two.")
    assert (paper.id, paper.version) == ("0000.00009", 4)
    assert paper.title == "A title over lines"
    title, abstract = paper.text().split("\n\n", 1)
    assert (title, abstract) == (paper.title, "Line one. Line two.")


def test_arxiv_records_need_arxiv_ids_other_sources_do_not() -> None:
    with pytest.raises(ValueError, match="need an arXiv id"):
        Paper(id="made-up-7", title="T", abstract="A")
    assert Paper(id="synthetic-007", title="T", abstract="A", source="synthetic").id == "synthetic-007"
