"""`scientist serve`: token, CSRF and escaping on the ASGI app; then the whole loop in headless Chromium (approve a
pending idea, the run proceeds, then the leaderboard tab: sort by a column, follow a run's review and paper links).
The leaderboard's own checks (escaping, path traversal) are in tests/test_web_leaderboard.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from scientist.approvals.store import ApprovalStore
from scientist.runs import create_run, save_run
from scientist.web.app import create_app
from tests.conftest import FIXTURE_TOPIC, REPO, SCIENTIST, replay_env, run_cli
from tests.store_support import clone_run

EVIL = "<script>alert('pwned')</script>"
CHROMIUM = Path("/usr/bin/chromium")


def waiting_run(runs_dir: Path, title: str = "an idea") -> tuple[str, str]:
    info = create_run(runs_dir, f"topic {EVIL}", "reward_misspec", "local/smollm2-135m", {})
    save_run(runs_dir, info.model_copy(update={"status": "waiting"}), runs_dir / info.id)
    idea = {"index": 0, "title": title, "hypothesis": EVIL, "experiment_plan": "p", "risks": "r"}
    approval = ApprovalStore(runs_dir / info.id).ensure_pending(
        info.id, "ideas", "gate:ideas", f"idea: {title}", {"selected": idea, "ideas": [idea]}
    )
    return info.id, approval.id


def csrf_of(client: TestClient, page: str = "/") -> str:
    reply = client.get(page)
    assert reply.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', reply.text)
    assert match, reply.text
    return match.group(1)


def test_agent_text_is_escaped(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _, approval_id = waiting_run(runs, title=EVIL)
    client = TestClient(create_app(runs, resume_after_decision=False))
    for page in ("/", f"/approvals/{approval_id}"):
        html = client.get(page).text
        assert "<script>alert" not in html and "&lt;script&gt;alert(" in html, page


def test_decisions_need_csrf_and_refuse_cross_site_posts(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run_id, approval_id = waiting_run(runs)
    client = TestClient(create_app(runs, resume_after_decision=False))
    url = f"/approvals/{approval_id}/approve"
    assert client.post(url, data={}).status_code == 403  # no CSRF field
    csrf = csrf_of(client)
    assert client.post(url, data={"csrf": "forged"}).status_code == 403
    cross = client.post(url, data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    fetch_cross = client.post(url, data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_cross.status_code == 403
    assert ApprovalStore(runs / run_id).get(approval_id).status == "pending"  # type: ignore[union-attr]
    ok = client.post(url, data={"csrf": csrf}, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert ok.status_code == 303
    decided = ApprovalStore(runs / run_id).get(approval_id)
    assert decided is not None and decided.status == "approved" and decided.decided_by == "web:testclient"
    again = client.post(url, data={"csrf": csrf})
    assert again.status_code == 409 and "already approved" in again.text


def test_token_is_required_when_given(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    waiting_run(runs)
    client = TestClient(create_app(runs, token="s3cret-token"))
    assert client.get("/").status_code == 401
    assert client.get("/api/status").status_code == 401
    assert client.get("/?token=wrong").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get("/?token=s3cret-token").status_code == 200
    assert client.get("/api/status").status_code == 200  # the cookie set by the token URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(isolated_env: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[str]]:
        process = subprocess.Popen(
            [*SCIENTIST, "serve", *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        assert match, line
        url = match.group(1)
        port = int(re.search(r":(\d+)/", url).group(1))  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        return url, process

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)


def test_bound_beyond_loopback_the_server_demands_its_token(isolated_env: Path, serve: callable) -> None:  # type: ignore[valid-type]
    port = free_port()
    url, _ = serve("--host", "0.0.0.0", "--port", str(port))
    token = url.split("?token=")[1]
    assert len(token) >= 20
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=10) as reply:
        assert reply.status == 200


def artifact_dirs(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path]
    if os.environ.get("CI") == "true":
        dirs.append(REPO / "test-artifacts")
    return dirs


def check_leaderboard(page: Any, run_dir: Path, env: dict[str, str], screenshot: Path) -> None:
    """The finished run plus two clones (other models and scores) on the page's leaderboard: sort, follow a link."""
    from playwright.sync_api import expect

    for index, overall in enumerate((2, 9)):
        clone_run(run_dir, run_dir.parent, f"clone-{index}", model=f"prov/m{index}", overall=overall)
    assert run_cli("store", "import", str(run_dir.parent), env=env).returncode == 0
    page.locator("#nav-leaderboard").click()
    rows = page.locator("#entries tbody tr")
    expect(rows).to_have_count(3)

    def means() -> list[float]:
        return [
            float(v)
            for v in page.eval_on_selector_all("#entries tbody tr", "rows => rows.map(r => r.cells[1].dataset.sort)")
        ]

    assert means() == sorted(means(), reverse=True) and means()[0] == 9.0  # best first, as scientist.leaderboard
    header = page.locator("#entries th", has_text="mean")
    header.click()
    assert header.get_attribute("aria-sort") == "ascending" and means() == sorted(means())
    page.screenshot(path=str(screenshot), full_page=True)
    link = page.locator('#runs tr[data-run="clone-1"] a', has_text="review")
    assert link.get_attribute("href") == "/files/clone-1/review.json"
    link.click()
    assert json.loads(page.locator("body").inner_text())["form"]["overall"] == 9
    page.go_back()
    paper = page.locator('#runs tr[data-run="clone-0"] a', has_text="paper").get_attribute("href")
    assert paper == "/files/clone-0/paper/paper.pdf"
    reply = page.request.get(page.url.split("/leaderboard")[0] + paper)  # the browser's session (token cookie)
    assert reply.ok and reply.headers["content-type"] == "application/pdf" and reply.body().startswith(b"%PDF")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists() and os.environ.get("CI") != "true", reason="Debian chromium not installed")
def test_browser_approves_a_pending_idea_and_the_run_proceeds(
    isolated_env: Path,
    replay_store: Path,
    serve: callable,
    tmp_path: Path,  # type: ignore[valid-type]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    env = replay_env(replay_store)
    assert run_cli("run", FIXTURE_TOPIC, "--approve", "ideas", env=env).returncode == 4
    (run_dir,) = (isolated_env / "runs").iterdir()
    (approval,) = ApprovalStore(run_dir).pending()
    url, _ = serve("--port", str(free_port()), env=env)
    base = url.split("?")[0]  # the token URL sets the session cookie once; later pages go without it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(url)
        row = page.locator(f"#approval-{approval.id}")
        expect(row).to_contain_text(approval.title)
        page.goto(f"{base}approvals/{approval.id}")
        expect(page.locator("#idea")).to_contain_text(approval.payload["selected"]["hypothesis"])
        shots = [directory / "web-approval-pending.png" for directory in artifact_dirs(tmp_path)]
        page.screenshot(path=str(shots[0]), full_page=True)
        page.goto(base)
        page.locator(f"#approval-{approval.id} button[name=approve]").click()
        expect(page.locator("#no-approvals")).to_be_visible()
        status = page.locator(f'td.status[data-run="{run_dir.name}"]')
        expect(status).to_have_text("completed", timeout=300_000)  # live progress: polled, no reload
        done = [directory / "web-approval-completed.png" for directory in artifact_dirs(tmp_path)]
        page.screenshot(path=str(done[0]), full_page=True)
        board = [directory / "web-leaderboard.png" for directory in artifact_dirs(tmp_path)]
        check_leaderboard(page, run_dir, env, board[0])
        browser.close()
    for extra in [*shots[1:], *done[1:], *board[1:]]:
        extra.parent.mkdir(parents=True, exist_ok=True)
    for source, copies in ((shots[0], shots[1:]), (done[0], done[1:]), (board[0], board[1:])):
        assert source.stat().st_size > 1000
        for copy in copies:
            shutil.copyfile(source, copy)
    decided = ApprovalStore(run_dir).get(approval.id)
    assert decided is not None and decided.decided_by == "web:127.0.0.1"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


# --- against a local attacker: DNS rebinding, cross-site posts, planted cookies (issue 21) --------------------


def test_a_rebinding_page_gets_403_even_with_the_token(tmp_path: Path) -> None:
    """evil.example resolving to 127.0.0.1 makes the browser send `Host: evil.example`: refused before anything."""
    runs = tmp_path / "runs"
    waiting_run(runs)
    app = create_app(runs, token="s3cret-token", allowed_hosts=["127.0.0.1", "localhost"])
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    assert client.get("/?token=s3cret-token").status_code == 200
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""):
        reply = client.get("/api/status?token=s3cret-token", headers={"Host": host})
        assert reply.status_code == 403, host
    assert client.get("/api/status", headers={"Host": "localhost:8765"}).status_code == 200


def test_csrf_is_tied_to_the_token_and_cross_site_posts_fail(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run_id, approval_id = waiting_run(runs)
    app = create_app(runs, token="s3cret-token", resume_after_decision=False, allowed_hosts=["127.0.0.1"])
    client = TestClient(app, base_url="http://127.0.0.1")
    field = csrf_of(client, "/?token=s3cret-token")
    cookie = client.cookies.get("scientist_csrf")
    assert cookie and field != cookie  # the field is HMAC(token, cookie), not the cookie itself
    url = f"/approvals/{approval_id}/approve"
    assert client.post(url, data={"csrf": cookie}).status_code == 403  # a planted cookie alone forges nothing
    evil = client.post(url, data={"csrf": field}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert ApprovalStore(runs / run_id).get(approval_id).status == "pending"  # type: ignore[union-attr]
    ok = client.post(url, data={"csrf": field}, headers={"Origin": "http://127.0.0.1"}, follow_redirects=False)
    assert ok.status_code == 303


def test_serve_on_loopback_demands_a_token_and_a_known_host(isolated_env: Path, serve: callable) -> None:  # type: ignore[valid-type]
    import http.client

    port = free_port()
    url, _ = serve("--port", str(port))
    assert "?token=" in url and len(url.split("?token=")[1]) >= 20
    token = url.split("?token=")[1]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10)
    assert refused.value.code == 401
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", f"/api/status?token={token}", headers={"Host": f"evil.example:{port}"})
    assert connection.getresponse().status == 403
    connection.close()
    with urllib.request.urlopen(f"http://localhost:{port}/api/status?token={token}", timeout=10) as reply:
        assert reply.status == 200
