"""Verified citations: each reference re-checked against a scholarly source on loopback stubs of Crossref and
OpenAlex (tests/scholarly_stubs.py, which enforce the documented request rules), and the DOI the index now keeps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from scientist.citations import Reference, to_bibtex
from scientist.tools.citecheck import ReferenceChecker
from scientist.tools.crossref import Crossref
from scientist.tools.index import DIMENSIONS, PaperIndex
from scientist.tools.literature import Paper
from scientist.tools.openalex import OpenAlex
from scientist.tools.scholarly import Sources
from tests.arxiv_stub import closed_port_url
from tests.scholarly_stubs import JsonStub

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
