"""Verified citations: each reference re-checked against a scholarly source on loopback stubs of Crossref and
OpenAlex (tests/scholarly_stubs.py, which enforce the documented request rules), and the DOI the index now keeps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from scientist.paper.citations import Reference, to_bibtex
from scientist.tools.citecheck import ReferenceChecker, reachable, unverified
from scientist.tools.crossref import Crossref
from scientist.tools.index import DIMENSIONS, PaperIndex
from scientist.tools.literature import Paper
from scientist.tools.openalex import OpenAlex
from scientist.tools.scholarly import Sources, breaker
from tests.arxiv_stub import closed_port_url
from tests.scholarly_stubs import JsonStub, json_answer, serve_json

pytestmark = pytest.mark.usefixtures("fresh_breakers")  # source circuit breakers are process-wide
FAST = {"min_interval_s": 0.0, "backoff_s": 0.01, "retries": 1, "timeout_s": 5.0, "deadline_s": 10.0}
MISGEN = Reference(
    key="doi:10.5555-fixture.0002",
    title="Constructed Fixture: Goal Misgeneralization Under Distribution Shift",
    authors=["Dora Sample", "Eli Stub"],
    year=2021,
    doi="10.5555/fixture.0002",
)
COIN = Reference(  # an arXiv paper without a DOI of its own: found by searching for its title
    key="0000.00001",
    title="Constructed Fixture: Reward Hacking in a Respawning-Coin Gridworld",
    authors=["Ada Fixture"],
    year=2019,
    arxiv_id="0000.00001",
)


def checker(tmp_path: Path, crossref_url: str, openalex_url: str) -> ReferenceChecker:
    sources = Sources([OpenAlex(base_url=openalex_url, cache_dir=tmp_path / "oa", **FAST)])  # type: ignore[arg-type]
    return ReferenceChecker(sources, Crossref(base_url=crossref_url, cache_dir=tmp_path / "cr", **FAST))  # type: ignore[arg-type]


def test_a_reference_the_source_agrees_with_is_verified(crossref: JsonStub, openalex: JsonStub, tmp_path: Path) -> None:
    check = checker(tmp_path, crossref.base_url, openalex.base_url)
    by_doi = check.check(MISGEN)
    assert (by_doi.status, by_doi.source, by_doi.mismatched) == ("verified", "crossref", [])
    assert crossref.requests[-1]["path"] == "/works/10.5555/fixture.0002" and openalex.requests == []
    by_title = check.check(COIN)  # no DOI: OpenAlex searched for the title, the record with its arXiv id compared
    assert (by_title.status, by_title.source) == ("verified", "openalex")
    assert openalex.requests[-1]["params"]["search"] == [COIN.title]


def test_a_mismatching_title_authors_or_year_is_a_mismatch_naming_the_fields(
    crossref: JsonStub, openalex: JsonStub, tmp_path: Path
) -> None:
    check = checker(tmp_path, crossref.base_url, openalex.base_url)
    wrong_title = check.check(MISGEN.model_copy(update={"title": "Deep Networks Learn Reward Models Perfectly"}))
    assert (wrong_title.status, wrong_title.mismatched) == ("mismatch", ["title"])
    assert "Goal Misgeneralization" in wrong_title.reason and wrong_title.citation == MISGEN.key
    wrong_people = check.check(COIN.model_copy(update={"authors": ["Zed Nobody"], "year": 2011}))
    assert (wrong_people.status, wrong_people.mismatched) == ("mismatch", ["authors", "year"])
    close = check.check(COIN.model_copy(update={"title": COIN.title.upper() + ".", "year": 2020}))
    assert close.status == "verified"  # case, punctuation and a preprint year apart are the same paper


def test_no_reachable_source_leaves_the_reference_unverified(tmp_path: Path) -> None:
    check = checker(tmp_path, closed_port_url(), closed_port_url())
    outcome = check.check(MISGEN)
    assert outcome.status == "unverified" and outcome.source is None
    assert "crossref" in outcome.reason and "unreachable" in outcome.reason
    assert ReferenceChecker(None).check(COIN).status == "unverified"


def test_a_paper_no_source_returns_is_unverified_not_verified(
    crossref: JsonStub, openalex: JsonStub, tmp_path: Path
) -> None:
    unknown = COIN.model_copy(update={"arxiv_id": "0000.99999", "key": "0000.99999"})
    outcome = checker(tmp_path, crossref.base_url, openalex.base_url).check(unknown)
    assert outcome.status == "unverified" and "no source returned this paper" in outcome.reason


def test_a_failing_crossref_trips_its_breaker_and_the_rest_go_to_the_title_search(
    openalex: JsonStub, tmp_path: Path
) -> None:
    for failing in serve_json(JsonStub("crossref", always=json_answer({"message": "down"}, 503))):
        check = checker(tmp_path, failing.base_url, openalex.base_url)
        outcomes = check.check_all([MISGEN] * 4)
        sent = len(failing.requests)
    assert sent == 3 * 2  # three lookups (each retried once), then the breaker is open: the fourth asks nothing
    assert breaker("crossref").open
    assert all((o.status, o.source) == ("verified", "openalex") for o in outcomes)  # each found by its title
    alone = ReferenceChecker(None, Crossref(base_url=openalex.base_url, cache_dir=tmp_path / "x", **FAST))  # type: ignore[arg-type]
    skipped = alone.check(MISGEN)
    assert skipped.status == "unverified" and "circuit breaker open" in skipped.reason


def route_to(tmp_path: Path, crossref_url: str, openalex_url: str, offline: str | None = None) -> Any:
    sources = Sources([OpenAlex(base_url=openalex_url, cache_dir=tmp_path / "oa", **FAST)])  # type: ignore[arg-type]
    cr = Crossref(base_url=crossref_url, cache_dir=tmp_path / "cr", **FAST)  # type: ignore[arg-type]
    return reachable(sources, cr, offline=offline, timeout_s=2.0)


def test_auto_with_a_route_checks_each_reference_after_one_probe(
    crossref: JsonStub, openalex: JsonStub, tmp_path: Path
) -> None:
    route = route_to(tmp_path, crossref.base_url, openalex.base_url)
    assert route.any and route.skipped == {} and route.crossref is not None and len(route.sources) == 1
    settle = time.monotonic() + 2  # the server accepts a connection the kernel already completed a moment later
    while (crossref.connections, openalex.connections) != (1, 1) and time.monotonic() < settle:
        time.sleep(0.01)
    assert (crossref.connections, openalex.connections) == (1, 1)  # one probe each, and no request yet
    assert crossref.requests == [] and openalex.requests == []
    outcomes = route.checker().check_all([MISGEN, COIN])
    assert [(o.status, o.source) for o in outcomes] == [("verified", "crossref"), ("verified", "openalex")]


def test_auto_skips_an_unreachable_source_and_asks_the_other(openalex: JsonStub, tmp_path: Path) -> None:
    route = route_to(tmp_path, closed_port_url(), openalex.base_url)
    assert route.crossref is None and list(route.skipped) == ["crossref"]
    assert "unreachable" in route.skipped["crossref"] and "refused" in route.skipped["crossref"].lower()
    outcome = route.checker().check(MISGEN)  # its DOI cannot be looked up: its title is searched at OpenAlex
    assert (outcome.status, outcome.source) == ("verified", "openalex")


def test_auto_with_no_route_decides_once_within_the_timeout_and_asks_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    route = route_to(tmp_path, closed_port_url(), closed_port_url())
    assert time.monotonic() - started < 2.0 and not route.any
    assert set(route.skipped) == {"crossref", "openalex"} and "crossref: unreachable" in route.reason()
    marked = unverified([MISGEN, COIN], f"not checked: {route.reason()}")
    assert [(m.citation, m.status) for m in marked] == [(MISGEN.key, "unverified"), (COIN.key, "unverified")]
    assert all("openalex: unreachable" in m.reason for m in marked)


def test_auto_with_every_breaker_open_sends_no_request_and_opens_no_connection(
    crossref: JsonStub, openalex: JsonStub, tmp_path: Path
) -> None:
    for name in ("crossref", "openalex"):
        for _ in range(3):
            breaker(name).failure("HTTP 503")
    route = route_to(tmp_path, crossref.base_url, openalex.base_url)
    assert not route.any and "circuit breaker open after 3 failures (last: HTTP 503)" in route.skipped["openalex"]
    time.sleep(0.1)
    assert (crossref.connections, openalex.connections, crossref.requests, openalex.requests) == (0, 0, [], [])


def test_auto_offline_makes_no_connection_at_all(crossref: JsonStub, openalex: JsonStub, tmp_path: Path) -> None:
    route = route_to(tmp_path, crossref.base_url, openalex.base_url, offline="offline setting")
    assert not route.any and route.reason() == "offline setting"
    time.sleep(0.1)  # a probe's connection would have been accepted by now
    assert (crossref.connections, openalex.connections) == (0, 0)


def test_the_doi_is_kept_by_the_index_and_old_indexes_still_load(tmp_path: Path) -> None:
    index = PaperIndex(tmp_path / "index", collection="doi")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2, DIMENSIONS)).astype(np.float32)
    # A record as an index built before the field existed stores it: no `doi` in its metadata.
    index.upsert_vectors(
        ["0000.00001"], vectors[:1], ["Old record\n\nabstract"], [{"title": "Old record", "source": "arxiv"}]
    )
    new = Paper(id="doi:10.5555/fixture.0002", title="New record", abstract="a", source="crossref",
                doi="https://doi.org/10.5555/FIXTURE.0002")  # fmt: skip
    index.upsert([new], vectors=vectors[1:])
    found = {paper.id: paper for paper in index.get(["0000.00001", "doi:10.5555/fixture.0002"])}
    old, fresh = found["0000.00001"], found["doi:10.5555/fixture.0002"]
    assert old.doi is None and old.title == "Old record"
    assert fresh.doi == "10.5555/fixture.0002"
    assert Paper.model_validate({"id": "0000.00002", "title": "t", "abstract": "a"}).doi is None  # old JSONL lines
    with pytest.raises(ValidationError, match="not a DOI"):
        Paper(id="x:1", title="t", abstract="a", source="x", doi="not-a-doi")
    bib = to_bibtex([MISGEN, COIN])
    assert "doi = {10.5555/fixture.0002}" in bib and bib.count("doi = ") == 1
