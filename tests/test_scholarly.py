"""The scholarly sources against loopback servers that speak and enforce each API's documented JSON: OpenAlex's
inverted-index abstracts and filters, Semantic Scholar's x-api-key header and paging bounds, Crossref's message.items
shape and rate-limit headers; 429 with Retry-After (honoured, and bounded), 500s that trip the circuit breaker,
garbage answers, the disk cache, and the merge by DOI, arXiv id and normalised title."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scientist.tools.crossref import Crossref, strip_jats
from scientist.tools.literature import Literature, Paper
from scientist.tools.openalex import OpenAlex, reconstruct_abstract
from scientist.tools.scholarly import (
    ArxivSource,
    JsonSource,
    Record,
    SourceConfigError,
    SourceError,
    Sources,
    SourceUnavailableError,
    breaker,
    make_record,
    merge,
    normalize_doi,
    normalize_title,
    retry_after_s,
)
from scientist.tools.semantic_scholar import SemanticScholar
from scientist.tools.sources import build_sources, source_order
from tests.arxiv_stub import Answer, ArxivStub, closed_port_url, serve
from tests.scholarly_stubs import GAMING, MISGEN, S2_TEST_KEY, JsonStub, json_answer

pytestmark = pytest.mark.usefixtures("fresh_breakers")  # source circuit breakers are process-wide
FAST = {"min_interval_s": 0.0, "backoff_s": 0.01, "retries": 2, "timeout_s": 5.0, "deadline_s": 20.0}


@pytest.fixture
def arxiv_stub() -> Iterator[ArxivStub]:
    yield from serve(ArxivStub())


def test_openalex_rebuilds_abstracts_from_the_inverted_index_and_filters_by_year(
    openalex: JsonStub, tmp_path: Path
) -> None:
    source = OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "c", **FAST)
    records = source.search("reward hacking", 10)
    assert [record.paper.id for record in records] == ["0000.00001", "doi:10.5555/fixture.0002", "openalex:W0000000003"]
    first = records[0]
    assert first.paper.abstract == GAMING and first.arxiv_id == "0000.00001"
    assert first.doi == "10.48550/arxiv.0000.00001" and first.paper.url == "https://arxiv.org/abs/0000.00001"
    assert records[1].paper.authors == ["Dora Sample", "Eli Stub"] and records[1].doi == "10.5555/fixture.0002"
    assert records[1].paper.published is not None and records[1].paper.published.year == 2021
    assert records[2].paper.abstract == ""  # abstract_inverted_index: null
    params = openalex.requests[0]["params"]
    assert params["search"] == ["reward hacking"] and params["per-page"] == ["10"] and params["page"] == ["1"]

    since = source.search("reward hacking", 10, since=2021)
    assert [record.paper.id for record in since] == ["doi:10.5555/fixture.0002", "openalex:W0000000003"]
    assert openalex.requests[-1]["params"]["filter"] == ["from_publication_date:2021-01-01"]


def test_openalex_pages_until_enough_and_caches_every_page(
    openalex: JsonStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.tools import openalex as module

    monkeypatch.setattr(module, "MAX_PER_PAGE", 2)
    source = OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "c", **FAST)
    assert [record.paper.title.split()[-1] for record in source.search("oversight", 3)] == [
        "Gridworld",
        "Shift",
        "debate",
    ]
    assert [request["params"]["page"][0] for request in openalex.requests] == ["1", "2"]
    assert all(request["params"]["per-page"] == ["2"] for request in openalex.requests)
    assert len(source.search("oversight", 5)) == 3  # meta.count says there is no third page
    assert len(openalex.requests) == 2  # ... and both pages came from the disk cache
    again = OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "c", **FAST).search("oversight", 3)
    assert len(again) == 3 and len(openalex.requests) == 2 and source.cache_hits == 2


def test_reconstruct_abstract_places_words_by_position() -> None:
    assert reconstruct_abstract({"world": [1], "hello": [0, 2]}) == "hello world hello"
    assert reconstruct_abstract(None) == "" and reconstruct_abstract({}) == ""


def test_semantic_scholar_sends_its_key_as_x_api_key_and_never_logs_or_caches_it(
    s2: JsonStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keyed = SemanticScholar(api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "c", **FAST)
    records = keyed.search("goal misgeneralization", 2)
    assert [record.paper.id for record in records] == ["doi:10.5555/fixture.0002", "semantic_scholar:" + "0" * 39 + "3"]
    assert s2.requests[0]["headers"]["x-api-key"] == S2_TEST_KEY
    params = s2.requests[0]["params"]
    assert params["limit"] == ["2"] and params["offset"] == ["0"] and "externalIds" in params["fields"][0]
    assert records[0].paper.abstract == MISGEN
    assert "s2-test-key" not in repr(keyed)
    for file in (tmp_path / "c").rglob("*"):
        if file.is_file():
            assert b"s2-test-key" not in file.read_bytes()

    # a 500 then success: the retry is logged, the key is not
    s2.script.append(json_answer({"message": "Internal Server Error"}, 500))
    SemanticScholar(api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "d", **FAST).search("debate", 1)
    assert "retry" in caplog.text and "s2-test-key" not in caplog.text

    # without the key the stub answers 403 as the API does: not retried, a one-line error
    anonymous = SemanticScholar(base_url=s2.base_url, cache_dir=tmp_path / "e", **FAST)
    sent = len(s2.requests)
    with pytest.raises(SourceError, match="HTTP 403: Forbidden"):
        anonymous.search("debate", 1)
    assert len(s2.requests) == sent + 1 and "x-api-key" not in s2.requests[-1]["headers"]


def test_semantic_scholar_pages_by_offset_and_filters_by_year(s2: JsonStub, tmp_path: Path) -> None:
    source = SemanticScholar(api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "c", **FAST)
    records = source.search("anything", 2, since=2023)
    assert [record.paper.id for record in records] == ["semantic_scholar:" + "0" * 39 + "3", "0000.00009"]
    assert records[1].arxiv_id == "0000.00009" and records[1].paper.url == "https://arxiv.org/abs/0000.00009"
    assert s2.requests[-1]["params"]["year"] == ["2023-"]
    from scientist.tools import semantic_scholar

    paged = SemanticScholar(api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "p", **FAST)
    old = semantic_scholar.MAX_LIMIT
    semantic_scholar.MAX_LIMIT = 1
    try:
        assert len(paged.search("anything", 3)) == 3
    finally:
        semantic_scholar.MAX_LIMIT = old
    offsets = [request["params"]["offset"][0] for request in s2.requests[-3:]]
    assert offsets == ["0", "1", "2"]


def test_semantic_scholar_open_access_pdfs_are_asked_for_only_when_full_text_is_wanted(
    s2: JsonStub, tmp_path: Path
) -> None:
    plain = SemanticScholar(api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "c", **FAST)
    assert all(record.pdf_url is None for record in plain.search("anything", 3))
    assert "openAccessPdf" not in s2.requests[-1]["params"]["fields"][0]  # the plain search's cache key is today's
    wanting = SemanticScholar(
        api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "c", open_access=True, **FAST
    )
    records = wanting.search("anything", 3)
    assert s2.requests[-1]["params"]["fields"][0].split(",")[-1] == "openAccessPdf"
    # the documented shapes: a url; an empty url (no open copy known); null
    assert [record.pdf_url for record in records] == [None, "https://example.org/constructed/0003.pdf", None]
    assert build_sources("s2", fulltext={"semantic_scholar"}).sources[0].open_access is True  # type: ignore[attr-defined]
    assert build_sources("s2", fulltext={"openalex"}).sources[0].open_access is False  # type: ignore[attr-defined]


def test_crossref_reads_message_items_strips_jats_and_slows_to_its_advertised_limit(
    crossref: JsonStub, tmp_path: Path
) -> None:
    source = Crossref(base_url=crossref.base_url, cache_dir=tmp_path / "c", **FAST)
    records = source.search("misgeneralization", 5)
    assert [record.paper.id for record in records] == ["doi:10.5555/fixture.0002", "doi:10.5555/fixture.0005"]
    assert records[0].paper.abstract == MISGEN and records[0].paper.authors == ["Dora Sample"]
    assert records[1].paper.authors == ["Fixture Consortium"] and records[1].paper.published.year == 2022  # type: ignore[union-attr]
    assert source.min_interval_s == pytest.approx(0.2)  # x-rate-limit-limit 5 per x-rate-limit-interval 1s
    assert crossref.requests[0]["params"]["rows"] == ["5"]
    assert [r.paper.id for r in source.search("x", 5, since=2022)] == ["doi:10.5555/fixture.0005"]
    assert crossref.requests[-1]["params"]["filter"] == ["from-pub-date:2022"]

    found = source.lookup("https://doi.org/10.5555/FIXTURE.0002")
    assert found is not None and found.paper.title.startswith("Constructed Fixture: Goal")
    assert source.lookup("10.5555/unknown") is None
    with pytest.raises(SourceError, match="not a DOI"):
        source.lookup("not-a-doi")
    assert strip_jats("<jats:p>a <jats:italic>b</jats:italic></jats:p>") == "a b"


def test_crossref_wrong_message_type_is_a_clear_error(crossref: JsonStub, tmp_path: Path) -> None:
    crossref.always = json_answer({"status": "ok", "message-type": "member-list", "message": {"items": []}})
    with pytest.raises(SourceError, match="message-type 'member-list'"):
        Crossref(base_url=crossref.base_url, cache_dir=tmp_path / "c", **FAST).search("x", 2)


def test_429_with_retry_after_is_honoured(openalex: JsonStub, tmp_path: Path) -> None:
    openalex.script.append(json_answer({"error": "Rate limit", "message": "slow down"}, 429, {"Retry-After": "1"}))
    source = OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "c", **FAST)
    records = source.search("reward", 3)
    assert len(records) == 3 and len(openalex.requests) == 2
    waited = openalex.requests[1]["at"] - openalex.requests[0]["at"]
    assert waited >= 0.95  # the server's Retry-After, not the 0.01 s backoff


def test_a_retry_after_past_the_bound_is_not_waited_for_and_the_next_source_answers(
    openalex: JsonStub, crossref: JsonStub, tmp_path: Path
) -> None:
    openalex.always = json_answer({"error": "Rate limit", "message": "daily budget"}, 429, {"Retry-After": "3600"})
    sources = Sources(
        [
            OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "o", max_retry_after_s=5, **FAST),
            Crossref(base_url=crossref.base_url, cache_dir=tmp_path / "c", **FAST),
        ]
    )
    started = time.monotonic()
    result = sources.search("misgeneralization", 5)
    assert time.monotonic() - started < 3
    assert len(openalex.requests) == 1  # not retried: the wait it asked for is past the bound
    assert [outcome.name for outcome in result.outcomes] == ["openalex", "crossref"]
    assert "3600 s" in (result.outcomes[0].error or "") and result.outcomes[1].found == 2
    assert [paper.id for paper in result.papers] == ["doi:10.5555/fixture.0002", "doi:10.5555/fixture.0005"]


def test_a_source_that_always_fails_trips_the_breaker_once(
    openalex: JsonStub, crossref: JsonStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    openalex.always = json_answer({"error": "Internal", "message": "boom"}, 500)
    sources = Sources(
        [
            OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "o", **FAST),
            Crossref(base_url=crossref.base_url, cache_dir=tmp_path / "c", **FAST),
        ],
        breaker_threshold=2,
    )
    with caplog.at_level(logging.WARNING):
        for query in ("one", "two", "three", "four"):
            assert len(sources.search(query, 2).papers) == 2  # crossref answers every time
    assert len(openalex.requests) == 2 * 3  # two searches of 3 attempts each, then skipped
    assert breaker("openalex").open
    warnings = [record for record in caplog.records if "skipping it for the rest" in record.getMessage()]
    assert len(warnings) == 1 and "HTTP 500: boom" in warnings[0].getMessage()
    last = sources.search("five", 2).outcomes
    assert last[0].name == "openalex" and last[0].skipped


def test_garbage_answers_fall_back_and_every_source_failing_is_one_clear_error(
    openalex: JsonStub, s2: JsonStub, tmp_path: Path
) -> None:
    openalex.always = Answer(status=200, body=b"<html>captive portal</html>")
    s2.always = json_answer({"unexpected": True, "data": "not a list"})
    sources = Sources(
        [
            OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "o", **FAST),
            SemanticScholar(base_url=s2.base_url, cache_dir=tmp_path / "s", **FAST),
        ]
    )
    with pytest.raises(SourceUnavailableError, match="no literature source could answer") as caught:
        sources.search("reward", 2)
    assert "malformed JSON" in caught.value.message and "documented shape (data" in caught.value.message
    assert len(openalex.requests) == 3 and len(s2.requests) == 1  # malformed JSON retried; a wrong shape is final


def test_arxiv_is_one_source_among_them_and_duplicates_merge(
    arxiv_stub: ArxivStub, openalex: JsonStub, s2: JsonStub, tmp_path: Path
) -> None:
    literature = Literature(cache_dir=tmp_path / "a", base_url=arxiv_stub.base_url, min_interval_s=0, page_size=2)
    sources = Sources(
        [
            ArxivSource(literature),
            OpenAlex(base_url=openalex.base_url, cache_dir=tmp_path / "o", **FAST),
            SemanticScholar(api_key=S2_TEST_KEY, base_url=s2.base_url, cache_dir=tmp_path / "s", **FAST),
        ]
    )
    result = sources.search("reward hacking", 9)
    ids = [paper.id for paper in result.papers]
    assert len(ids) == len(set(ids))
    # arXiv's five; OpenAlex's arXiv paper is arXiv's first (arXiv DOI) and its misgeneralization paper is arXiv's
    # third (same title); S2's DOI paper is that one again, its debate paper OpenAlex's (title up to punctuation)
    assert ids[5:] == ["openalex:W0000000003", "0000.00009"]
    first, misgen = result.records[0], result.records[2]
    assert first.paper.source == "arxiv" and first.sources == ["arxiv", "openalex"]
    assert first.paper.abstract.startswith("CONSTRUCTED TEST RECORD, not a real paper")  # arXiv's copy wins
    assert misgen.sources == ["arxiv", "openalex", "semantic_scholar"] and misgen.doi == "10.5555/fixture.0002"
    debate = result.records[5]
    assert debate.sources == ["openalex", "semantic_scholar"] and debate.paper.abstract.startswith("CONSTRUCTED")
    assert [outcome.found for outcome in result.outcomes] == [5, 3, 3]


def test_merge_by_doi_arxiv_id_and_normalised_title() -> None:
    def rec(source: str, native: str, title: str, **kw: object) -> Record:
        made = make_record(source, native_id=native, title=title, abstract=kw.pop("abstract", ""), **kw)  # type: ignore[arg-type]
        assert made is not None
        return made

    a = rec("crossref", "x1", "Deep Nets: A Study", doi="10.1/ABC")
    b = rec("openalex", "W9", "Totally different title", doi="https://doi.org/10.1/abc", abstract="text")
    c = rec("openalex", "W8", "Ça Marche — Über Models", authors=["Z"])
    d = rec("semantic_scholar", "s8", "ca marche: uber {models}", arxiv_id="2101.00001")
    e = rec("crossref", "x2", "Short")
    f = rec("openalex", "W7", "Short")
    merged = merge([a, b, c, d, e, f])
    assert [record.paper.id for record in merged] == ["doi:10.1/abc", "2101.00001", "crossref:x2", "openalex:W7"]
    assert merged[0].paper.abstract == "text" and merged[0].paper.title == "Deep Nets: A Study"
    assert merged[1].arxiv_id == "2101.00001" and merged[1].paper.authors == ["Z"]
    assert normalize_title("Ça Marche — Über {Models}!") == "ca marche uber models"
    assert normalize_doi("doi:10.1/X") == "10.1/x" and normalize_doi("nope") is None


def test_make_record_picks_an_index_key_the_paper_model_accepts() -> None:
    weird = make_record("crossref", native_id="10.1002/(SICI)1097", title="T", abstract="", doi="10.1002/(SICI)1097")
    assert weird is not None and weird.paper.id == "crossref:10.1002/_SICI_1097" and weird.doi == "10.1002/(sici)1097"
    assert make_record("openalex", native_id="W1", title="  ", abstract="") is None
    ok = make_record("openalex", native_id="W1", title="A title", abstract=None, doi="10.48550/arXiv.2101.00002")
    assert ok is not None and ok.paper.id == "2101.00002" and isinstance(ok.paper, Paper)


def test_source_order_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert source_order("S2, arxiv,crossref,arxiv") == ["semantic_scholar", "arxiv", "crossref"]
    assert source_order(["openalex", "crossref,arxiv"]) == ["openalex", "crossref", "arxiv"]
    assert source_order(None) == ["arxiv", "openalex", "semantic_scholar"]
    monkeypatch.setenv("SCIENTIST_LITERATURE_SOURCES", "crossref")
    assert source_order(None) == ["crossref"]
    with pytest.raises(SourceConfigError, match=r"unknown literature source.*google"):
        source_order("arxiv,google")
    monkeypatch.setenv("SCIENTIST_OPENALEX_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("SCIENTIST_S2_API_KEY", "k-123")
    built = build_sources("openalex,s2,crossref")
    openalex, s2, crossref = built.sources
    assert isinstance(openalex, OpenAlex) and openalex.base_url == "http://127.0.0.1:9"
    assert isinstance(s2, SemanticScholar) and s2.headers == {"x-api-key": "k-123"} and s2.min_interval_s == 1.0
    assert isinstance(crossref, Crossref) and crossref.base_url == "https://api.crossref.org"
    monkeypatch.delenv("SCIENTIST_OPENALEX_URL")
    assert OpenAlex.from_env().base_url == "https://api.openalex.org"
    assert SemanticScholar.from_env().base_url == "https://api.semanticscholar.org/graph/v1"
    monkeypatch.setenv("SCIENTIST_CROSSREF_MIN_INTERVAL_S", "soon")
    with pytest.raises(SourceConfigError, match="SCIENTIST_CROSSREF_MIN_INTERVAL_S"):
        Crossref.from_env()


def test_openalex_key_is_sent_but_not_cached_or_shown(
    openalex: JsonStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCIENTIST_OPENALEX_API_KEY", "oa-secret-key")
    monkeypatch.setenv("SCIENTIST_CONTACT_EMAIL", "someone@example.org")
    source = OpenAlex.from_env(base_url=openalex.base_url, cache_dir=tmp_path / "c", **FAST)
    source.search("reward", 1)
    assert openalex.requests[0]["params"]["api_key"] == ["oa-secret-key"]
    assert openalex.requests[0]["params"]["mailto"] == ["someone@example.org"]
    assert "oa-secret-key" not in source.url("/works", {"search": "x"}, secrets=False)
    openalex.always = json_answer({"error": "Invalid", "message": "bad"}, 400)
    with pytest.raises(SourceError) as caught:
        OpenAlex.from_env(base_url=openalex.base_url, cache_dir=tmp_path / "d", **FAST).search("reward", 1)
    assert "oa-secret-key" not in caught.value.message and "HTTP 400: bad" in caught.value.message


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412475.0) == pytest.approx(5.0)
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412485.0) == 0.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_sources_need_at_least_one() -> None:
    with pytest.raises(SourceConfigError):
        Sources([])


def test_an_unreachable_source_fails_at_once_and_the_next_one_answers(crossref: JsonStub, tmp_path: Path) -> None:
    dead = closed_port_url().removesuffix("/api/query")
    sources = Sources(
        [
            OpenAlex(base_url=dead, cache_dir=tmp_path / "o", **{**FAST, "backoff_s": 5.0}),
            Crossref(base_url=crossref.base_url, cache_dir=tmp_path / "c", **FAST),
        ]
    )
    started = time.monotonic()
    result = sources.search("misgeneralization", 2)
    assert time.monotonic() - started < 3  # no 5 s backoff: a refused connection is not retried
    assert "unreachable" in (result.outcomes[0].error or "") and len(result.papers) == 2


def test_an_unreachable_source_does_not_quote_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIENTIST_OPENALEX_API_KEY", "oa-secret-key")
    dead = closed_port_url().removesuffix("/api/query")
    with pytest.raises(SourceUnavailableError, match="unreachable") as caught:
        OpenAlex.from_env(base_url=dead, cache_dir=tmp_path / "o", **FAST).search("reward", 1)
    assert "oa-secret-key" not in caught.value.message and "api_key=***" in caught.value.message


def test_a_json_source_must_implement_its_requests_and_parser(tmp_path: Path) -> None:
    class Half(JsonSource):  # parse() forgotten: refused when built, not on the first search
        name = "half"

        def requests_for(self, query: str, max_results: int, since: int | None) -> list[tuple[str, dict[str, str]]]:
            return [("/works", {"q": query})]

    with pytest.raises(TypeError, match="parse"):
        Half(cache_dir=tmp_path)  # type: ignore[abstract]
