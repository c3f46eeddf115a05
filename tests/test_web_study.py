"""The study pages of `scientist serve` (issue 27): the list of studies in the run store, and one study's grid with
each cell's status and runs (linked to their run pages) and the report `study report` builds, from the same code.
The study is recorded in a store by the study code itself (record_study, link_run) on copies of a real run."""

from __future__ import annotations

import json
from pathlib import Path

import lxml.html
from starlette.testclient import TestClient

from scientist.store import open_store
from scientist.store.models import Cell
from scientist.study.execute import link_run, record_study, slug
from scientist.study.report import build_report
from scientist.study.spec import parse_study
from scientist.web.app import create_app
from tests.conftest import FIXTURE_TOPIC
from tests.store_support import clone_run

STUDY = "web-study"
SPEC = f"""
name = "{STUDY}"
topics = ["{FIXTURE_TOPIC}"]
templates = ["reward_misspec"]
models = ["local/smollm2-135m"]
variants = ["plain", "full"]
n = 2
seeds = [0]
"""


def recorded_study(recorded_run: Path, runs_dir: Path, db: str) -> dict[str, int]:
    """Two cells of two runs each, every run a copy of the real run with its own review score; run id -> score."""
    store = open_store(db)
    scores: dict[str, int] = {}
    try:
        ids = record_study(store, parse_study(SPEC))
        for number, (key, cell_id) in enumerate(sorted(ids.items())):
            for sample in range(2):
                run_id, overall = f"study-run-{number}-{sample}", 2 + 3 * number + sample
                sample_dir = runs_dir / "studies" / slug(STUDY) / slug(key) / f"sample-{sample}"
                link_run(store, clone_run(recorded_run, sample_dir, run_id, overall=overall), cell_id, sample)
                scores[run_id] = overall
            with store.session() as session:
                row = session.get(Cell, cell_id)
                assert row is not None
                row.status = "completed"
    finally:
        store.close()
    return scores


def test_the_study_page_shows_the_grid_the_report_and_links_every_run(recorded_run: Path, tmp_path: Path) -> None:
    runs_dir = recorded_run.parent
    db = str(tmp_path / "store.sqlite")
    scores = recorded_study(recorded_run, runs_dir, db)
    client = TestClient(create_app(runs_dir, db=db))

    listing = lxml.html.fromstring(client.get("/studies").text)
    assert listing.xpath('//ul[@id="studies"]//a/@href') == [f"/studies/{STUDY}"]

    reply = client.get(f"/studies/{STUDY}?score=self")
    assert reply.status_code == 200, reply.text[:300]
    assert "script-src 'none'" in reply.headers["content-security-policy"]
    tree = lxml.html.fromstring(reply.text)
    cells = tree.xpath('//table[@id="grid"]/tr[@class="cell"]')
    assert [cell.xpath('./td[@class="status"]')[0].text_content() for cell in cells] == ["completed", "completed"]
    best = sorted(float(cell.xpath("./td")[7].text_content()) for cell in cells)
    assert best == [3.0, 6.0]  # the best self score of each cell's two runs
    links = tree.xpath('//table[@id="grid"]//a[@class="run-link"]/@href')
    assert sorted(links) == sorted(f"/runs/{run_id}" for run_id in scores)

    store = open_store(db)
    try:
        report = build_report(store, STUDY, "overall", "self")
    finally:
        store.close()
    assert tree.xpath('//figure[@id="quality_vs_k"]/*[local-name()="svg"]')  # the best-of-k curves, inline
    for variant in report.variants:  # the report's own numbers on the page
        assert variant.variant in reply.text and f"{variant.curve[0].mean:.3f}" in reply.text

    run_page = client.get(links[0])  # a study's run, in its sample folder, has its run page too
    assert run_page.status_code == 200
    run_id = links[0].removeprefix("/runs/")
    assert json.loads((next(runs_dir.glob(f"studies/*/*/sample-*/{run_id}")) / "run.json").read_text())["id"] == run_id
    assert f"Run {run_id}" in run_page.text


def test_an_unknown_study_is_a_404_naming_the_known_ones(recorded_run: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "store.sqlite")
    recorded_study(recorded_run, recorded_run.parent, db)
    reply = TestClient(create_app(recorded_run.parent, db=db)).get("/studies/<img src=x onerror=alert(1)>")
    assert reply.status_code == 404 and STUDY in reply.text and "text/plain" in reply.headers["content-type"]
    assert TestClient(create_app(recorded_run.parent, db=db)).get(f"/studies/{STUDY}?score=bogus").status_code == 404
