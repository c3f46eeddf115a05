"""The run page and the study page in headless Chromium (issue 27): every section of a recorded run renders, the
timeline's filters work, a model call opens its recorded response, the live view shows a new stage without a
reload, a hostile title runs no script; screenshots of both pages are kept as test artifacts and checked."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from scientist.audit.log import AuditLog
from scientist.web.app import create_app
from tests.conftest import REPO
from tests.test_web_study import STUDY, recorded_study

CHROMIUM = Path("/usr/bin/chromium")
EVIL = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


@pytest.fixture
def server(recorded_run: Path, tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    """The app on a loopback port (uvicorn in a thread), serving the recorded run and a study of copies of it."""
    ideas = json.loads((recorded_run / "ideas.json").read_text())
    ideas[1]["title"] = EVIL
    (recorded_run / "ideas.json").write_text(json.dumps(ideas))
    db = str(tmp_path / "store.sqlite")
    recorded_study(recorded_run, recorded_run.parent, db)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(recorded_run.parent, token="browser-token", db=db, allowed_hosts=["127.0.0.1"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", recorded_run, db
    server.should_exit = True
    thread.join(10)


def keep(shot: Path) -> None:
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get("CI") == "true":
        target = REPO / "test-artifacts" / shot.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI") != "true", reason="Debian chromium not installed")
def test_the_run_page_and_the_study_page_in_chromium(server: tuple[str, Path, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, run_dir, _ = server
    log = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{base}/?token=browser-token")
        page.locator(f'a.run-link[href="/runs/{run_dir.name}"]').click()
        expect(page).to_have_title(f"run {run_dir.name}")
        for section in ("summary", "ideas", "experiments", "paper", "reviews", "timeline", "approvals"):
            expect(page.locator(f"section#{section}")).to_be_visible()
        expect(page.locator("#verify")).to_contain_text(f"OK: {len(log)} records")
        review = json.loads((run_dir / "review.json").read_text())
        expect(page.locator("#self-score")).to_contain_text(str(review["form"]["overall"]))
        expect(page.locator(".idea-title").nth(1)).to_have_text(EVIL)  # shown as text, run as nothing
        assert page.title() != "pwned" and page.locator("#idea-list img").count() == 0
        shot = tmp_path / "web-run-page.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)

        # a model call opens its recorded response
        call = next(r for r in log if r["kind"] == "llm_call")
        blob = page.locator(f'#event-{call["seq"]} details[data-field="response_blob"]')
        blob.locator("summary").click()
        response = (run_dir / "blobs" / call["payload"]["response_blob"]).read_text()
        expect(blob.locator("pre")).to_be_visible()
        assert blob.locator("pre").inner_text().strip() == response[:4096].strip()

        # the filters: kind, then stage
        page.select_option('select[name="kind"]', "llm_call")
        page.select_option('select[name="stage"]', "write")
        page.locator("#timeline button[type=submit]").click()
        expected = [r for r in log if r["kind"] == "llm_call" and r["payload"]["stage"] == "write"]
        expect(page.locator("tr.event")).to_have_count(len(expected))
        assert set(page.eval_on_selector_all("tr.event", "rows => rows.map(r => r.dataset.kind)")) == {"llm_call"}

        # the live view: a new stage shows without a reload
        AuditLog(run_dir).append("node_start", "pipeline", {"node": "judge"})
        expect(page.locator("#live-stage")).to_have_text("judge (start)", timeout=15_000)
        expect(page.locator("#live-events")).to_have_text(str(len(log) + 1))

        # the study page: its grid, its curves, links to the run pages
        page.locator("#nav-studies").click()
        page.locator(f'#studies a[href="/studies/{STUDY}"]').click()
        page.goto(page.url + "?score=self")
        expect(page.locator("#grid tr.cell")).to_have_count(2)
        expect(page.locator("#quality_vs_k svg")).to_be_visible()
        shot = tmp_path / "web-study-page.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)
        page.locator("#grid a.run-link").first.click()
        expect(page.locator("#run-title")).to_contain_text("study-run-")
        browser.close()


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI") != "true", reason="Debian chromium not installed")
def test_a_model_calls_prompt_opens_in_chromium_and_a_hostile_one_stays_inert(
    server: tuple[str, Path, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.test_web_run import hostile_call

    base, run_dir, _ = server
    log = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    call = next(r for r in log if r["kind"] == "llm_call")
    prompt = (run_dir / "blobs" / call["payload"]["prompt_blob"]).read_text(encoding="utf-8")
    record = hostile_call(run_dir, f"{EVIL} summarise", f"{EVIL} done", tmp_path / "cache")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{base}/?token=browser-token")
        page.goto(f"{base}/runs/{run_dir.name}?kind=llm_call#timeline")
        blob = page.locator(f'#event-{call["seq"]} details[data-field="prompt_blob"]')
        expect(blob.locator("pre")).to_be_hidden()
        blob.locator("summary").click()  # the recorded prompt opens, as the text stored
        expect(blob.locator("pre")).to_be_visible()
        shown = blob.locator("pre").inner_text()
        assert shown.startswith(f"model call prompt · request {call['payload']['request_hash']}")
        assert shown.strip() == prompt.encode()[:4096].decode(errors="ignore").strip()
        blob.locator("a").click()  # the whole prompt, on its own page
        expect(page.locator("#text")).to_contain_text("--- user (")
        assert page.locator("#text").inner_text().strip() == prompt.encode()[:65536].decode(errors="ignore").strip()

        page.goto(f"{base}/runs/{run_dir.name}?kind=llm_call&stage=hostile#timeline")
        expect(page.locator("tr.event")).to_have_count(1)
        for field, text in (("prompt_blob", f"{EVIL} summarise"), ("response_blob", f"{EVIL} done")):
            hostile = page.locator(f'#event-{record["seq"]} details[data-field="{field}"]')
            hostile.locator("summary").click()
            expect(hostile.locator("pre")).to_contain_text(text)  # the markup as text
        assert page.title() != "pwned" and page.locator("#events img, #events script").count() == 0
        page.locator(f'#event-{record["seq"]} details[data-field="prompt_blob"] a').click()
        expect(page.locator("#text")).to_contain_text(f"{EVIL} summarise")
        assert page.title() != "pwned" and page.locator("#text img, #text script").count() == 0
        browser.close()
