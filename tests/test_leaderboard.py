"""`scientist leaderboard`: grouping, CIs, cost and monitor flags from a real store, bad input, and the static page
opened in headless Debian chromium (Playwright driving /usr/bin/chromium): sorting by header click, links resolve."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from scientist.audit.log import AuditLog
from scientist.leaderboard.board import build
from scientist.store import import_runs, open_store
from tests.audit_support import filled
from tests.conftest import run_cli
from tests.store_support import IN_CI, clone_run, plant_gaming, store_url

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("SCIENTIST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, real_run: Path) -> Path:
    """Five runs cloned from one real run: model a (overall 4, 6, 8), b (5), c (9, but it gamed its evaluator)."""
    real = real_run
    runs_dir = tmp_path_factory.mktemp("board") / "runs"
    runs_dir.mkdir()
    for i, overall in enumerate((4, 6, 8)):
        clone_run(real, runs_dir, f"a-{i}", model="prov/a", variant="full", overall=overall)
    noted = clone_run(real, runs_dir, "b-0", model="prov/b", variant="plain", overall=5)
    AuditLog(noted).append("monitor_event", "monitor", filled("monitor_event", monitor="style_note", severity="medium",
                           evidence="a medium event: noted on the board, the run not flagged"))  # fmt: skip
    plant_gaming(clone_run(real, runs_dir, "c-0", model="prov/c", variant="plain", overall=9))
    return runs_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, runs: Path) -> Iterator[str]:
    for url in store_url(request.param, tmp_path):
        store = open_store(url)
        report = import_runs(store, runs)
        store.close()
        assert len(report.imported) == 5 and not report.failed
        yield url


def test_entries_have_mean_ci_n_cost_and_flags(db: str) -> None:
    store = open_store(db)
    board = build(store, by="model", metric="overall")
    store.close()
    assert [e.key for e in board.entries] == ["prov/c", "prov/a", "prov/b"]  # best mean first
    c, a, b = board.entries
    assert (a.n, a.mean) == (3, 6.0)
    half = 4.302652729911275 * 2.0 / math.sqrt(3)  # t(0.975, 2) · sd / √n
    assert a.ci_low == pytest.approx(6 - half) and a.ci_high == pytest.approx(6 + half)
    assert b.n == 1 and b.ci_low is None
    assert a.tokens == 3 * b.tokens > 0
    assert c.flagged_runs == 1 and c.flags == ["hardcoded_metric", "protected_file"]
    assert a.flagged_runs == b.flagged_runs == 0
    assert "style_note" in b.notes and "style_note" not in b.flags  # medium and below: a note, not a flag

    store = open_store(db)
    by_variant = build(store, by="variant", metric="variant.true_return")
    store.close()
    assert {e.key: e.n for e in by_variant.entries} == {"full": 3, "plain": 2}


def test_cli_table_and_bad_input(db: str) -> None:
    result = run_cli("leaderboard", "--db", db, "--by", "model", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "prov/a" in result.stdout and "hardcoded_metric" in result.stdout and "6.000" in result.stdout
    assert "notes: " in result.stdout and "style_note" in result.stdout
    bad_by = run_cli("leaderboard", "--db", db, "--by", "colour")
    assert bad_by.returncode == 2 and "Traceback" not in bad_by.stderr
    assert "'colour'" in bad_by.stderr and "model, variant, template" in bad_by.stderr
    bad_metric = run_cli("leaderboard", "--db", db, "--metric", "elegance")
    assert bad_metric.returncode == 2 and "'elegance'" in bad_metric.stderr
    assert "overall" in bad_metric.stderr and "variant.gaming_rate" in bad_metric.stderr


def _chromium_or_skip() -> None:
    if shutil.which(CHROMIUM) is None:
        message = f"no chromium at {CHROMIUM} (scripts/system_deps.sh installs Debian's chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _column(page, table: str, index: int) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        f"#{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].dataset.sort)"
    )  # type: ignore[no-any-return]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_html_page_sorts_and_links_resolve_in_chromium(db: str, tmp_path: Path, runs: Path) -> None:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "site" / "board.html"  # elsewhere than the runs: links must climb out and back
    result = run_cli("leaderboard", "--db", db, "--html", str(page_path))
    assert result.returncode == 0, result.stderr
    html = page_path.read_text()
    assert "<svg" in html and not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_path.as_uri())
        assert page.locator("#plot svg").count() == 1

        means = [float(v) for v in _column(page, "entries", 1)]
        assert means == sorted(means, reverse=True)  # as built: best first
        header = page.locator("#entries th", has_text="mean")
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert [float(v) for v in _column(page, "entries", 1)] == sorted(means)
        header.click()
        assert header.get_attribute("aria-sort") == "descending"
        assert [float(v) for v in _column(page, "entries", 1)] == sorted(means, reverse=True)
        page.locator("#runs th", has_text="run").first.click()
        assert _column(page, "runs", 0) == sorted(["a-0", "a-1", "a-2", "b-0", "c-0"])

        flagged = page.locator("#runs tr.flagged")
        assert flagged.count() == 1 and "hardcoded_metric" in flagged.inner_text()
        assert "protected_file" in flagged.inner_text()

        hrefs: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        assert len(hrefs) == 5 * 3  # run, paper, review for each run
        for href in hrefs:
            assert href.startswith("file://"), href
            assert Path(unquote(urlparse(href).path)).is_file(), href
        review_href = next(h for h in hrefs if h.endswith("review.json"))
        page.goto(review_href)
        assert json.loads(page.locator("body").inner_text())["form"]["overall"] in {4, 5, 6, 8, 9}
        page.goto(page_path.as_uri())
        page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
        browser.close()
    assert errors == []


def _svg_texts(metric: str, mean: float) -> list[str]:
    """The plot's text in order (matplotlib's SVG writes each text drawn as paths after a comment holding it)."""
    from scientist.leaderboard.board import Entry, Leaderboard
    from scientist.leaderboard.html import plot_svg

    entry = Entry(key="m", n=2, mean=mean, ci_low=mean - 1, ci_high=mean + 1, cost_usd=0, tokens=0, flagged_runs=0,
                  runs=[])  # fmt: skip
    return re.findall(r"<!-- (.*?) -->", plot_svg(Leaderboard(by="model", metric=metric, entries=[entry])))


def test_plot_of_a_form_score_is_on_the_forms_scale_not_from_zero() -> None:
    from scientist.reviews.form import score_scale

    assert score_scale("overall") == (1, 10) and score_scale("soundness") == (1, 4)
    assert score_scale("confidence") == (1, 5) and score_scale("accuracy") is None and score_scale("summary") is None
    texts = _svg_texts("overall", 3.0)  # a low mean: an automatic axis would stop near 4
    ticks = [t for t in texts if t.isdigit()]
    assert ticks == [str(v) for v in range(1, 11)] and "overall (1-10)" in texts
    soundness = [t for t in _svg_texts("soundness", 2.5) if t.isdigit()]
    assert soundness == ["1", "2", "3", "4"]
    # an experiment metric has no fixed scale: matplotlib's own axis (from 0)
    assert next(t for t in _svg_texts("accuracy", 3.0) if t.isdigit()) == "0"
