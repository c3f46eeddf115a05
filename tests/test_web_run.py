"""The run page `/runs/<id>` of `scientist serve` (issue 27): every section shows the recorded run's own data, and a
hostile run folder (script in titles and logs, a symlink to /etc/passwd, FIFOs named like result files and blobs,
a 50 MB stdout) executes nothing, reads nothing outside the run, blocks nothing and loads no log whole."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from starlette.testclient import TestClient

from scientist.web.app import create_app, run_page_context
from tests.audit_support import filled

EVIL = "<script>alert('pwned')</script>"
ANSI = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b[31m"


def client_for(run_dir: Path, token: str | None = None) -> TestClient:
    return TestClient(create_app(run_dir.parent, token=token, resume_after_decision=False))


def page(client: TestClient, url: str) -> Any:
    reply = client.get(url)
    assert reply.status_code == 200, reply.text[:500]
    return lxml.html.fromstring(reply.text)


def text_of(tree: Any, element_id: str) -> str:
    (found,) = tree.xpath(f'//*[@id="{element_id}"]')
    return str(found.text_content())


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]


def test_every_section_shows_the_recorded_run(recorded_run: Path) -> None:
    run_dir = recorded_run
    client = client_for(run_dir)
    index = lxml.html.fromstring(client.get("/").text)
    assert index.xpath('//a[@class="run-link"]/@href') == [f"/runs/{run_dir.name}"]
    tree = page(client, f"/runs/{run_dir.name}")
    info = json.loads((run_dir / "run.json").read_text())
    log = records(run_dir)

    # summary: the run, its models by role, spend per stage, score, flags, the audit chain checked
    assert text_of(tree, "topic") == info["topic"] and info["status"] in text_of(tree, "status")
    assert f"OK: {len(log)} records, chain intact" in text_of(tree, "verify")
    calls = [r["payload"] for r in log if r["kind"] == "llm_call"]
    for role in {c["role"] for c in calls}:
        assert f"{role}: {info['model']}" in text_of(tree, "roles")
    stage_rows = {row[0].text_content(): row for row in tree.xpath('//table[@id="stages"]/tr')[1:]}
    ideate_tokens = sum(c["total_tokens"] for c in calls if c["stage"] == "ideate")
    assert stage_rows["ideate"][3].text_content() == str(ideate_tokens)
    review = json.loads((run_dir / "review.json").read_text())
    assert text_of(tree, "self-score").split()[0] == str(review["form"]["overall"])
    flags = [r for r in log if r["kind"] == "monitor_event"]
    assert len(tree.xpath('//table[@id="flags"]/tr')) == len(flags) + 1 and flags
    assert flags[0]["payload"]["evidence"] in text_of(tree, "flags")

    # ideas: every candidate, its self-rating and novelty neighbours; the winner marked
    ideas = json.loads((run_dir / "ideas.json").read_text())
    novelty = json.loads((run_dir / "novelty.json").read_text())
    selected = json.loads((run_dir / "selected_idea.json").read_text())
    titles = [str(t.text_content()) for t in tree.xpath('//table[@id="idea-list"]//strong[@class="idea-title"]')]
    assert titles == [idea["title"] for idea in ideas]
    (winner,) = tree.xpath('//table[@id="idea-list"]/tr[@class="winner"]')
    assert winner.get("data-idea") == str(selected["index"])
    for verdict in novelty:
        for paper in verdict["top_k"]:
            assert paper["id"] in text_of(tree, "idea-list")

    # experiments: the run tree with each run's outcome and metric; logs reachable, paged
    results = {p.parent.name: json.loads(p.read_text()) for p in (run_dir / "experiments").glob("*/result.json")}
    rows = {r.get("data-label"): r for r in tree.xpath('//table[@id="experiment-runs"]/tr[@data-label]')}
    assert set(rows) == set(results) and {"baseline", "variant"} <= set(rows)
    for label, result in results.items():
        assert rows[label][3].text_content() == str(result["ok"])
        assert rows[label][4].text_content() == str(result["metric"])
    stdout_link = f"/runs/{run_dir.name}/text/experiments/baseline/attempt_0/logs/stdout.log"
    assert stdout_link in tree.xpath('//details[@id="exp-baseline"]//a/@href')
    log_page = page(client, stdout_link)
    stdout = (run_dir / "experiments/baseline/attempt_0/logs/stdout.log").read_text()
    assert stdout and text_of(log_page, "text") == stdout
    (plot,) = tree.xpath('//img[@class="plot"]/@src')
    assert client.get(plot).headers["content-type"] == "image/png"

    # paper: the PDF embedded, numbers the writer removed listed
    paper = json.loads((run_dir / "paper.json").read_text())
    assert paper["title"] in text_of(tree, "paper-title")
    pdf = tree.xpath('//object[@id="paper-pdf"]/@data')[0]
    assert client.get(pdf).content.startswith(b"%PDF")
    removed = text_of(tree, "removed-numbers")
    assert paper["removed_numbers"] and all(item["number"] in removed for item in paper["removed_numbers"])

    # reviews: decision, scores, each reviewer's form and reflections, the meta-review
    assert review["form"]["decision"] in text_of(tree, "decision")
    reviewers = tree.xpath('//details[@class="reviewer"]')
    assert len(reviewers) == len(review["reviews"]) == 2
    assert review["reviews"][0]["form"]["summary"].strip() in reviewers[0].text_content()
    assert tree.xpath('//details[@id="meta-review"]')

    # timeline: every record, in order, each linked in the chain; model calls open their recorded response
    events = tree.xpath('//table[@id="events"]/tr[@class="event"]')
    assert [int(e.get("id").removeprefix("event-")) for e in events] == [r["seq"] for r in log]
    assert all("links" in e.xpath("./td")[5].text_content() for e in events)
    first_call = next(r for r in log if r["kind"] == "llm_call")
    blob = (run_dir / "blobs" / first_call["payload"]["response_blob"]).read_text()
    (shown,) = tree.xpath(f'//tr[@id="event-{first_call["seq"]}"]//details[@data-field="response_blob"]/pre')
    assert shown.text_content() == blob[:4096]


def hostile_call(run_dir: Path, prompt: str, answer: str, cache: Path) -> dict[str, Any]:
    """One model call with a hostile prompt and answer, made through the real gateway (litellm against a loopback
    OpenAI-compatible stub) into the run's own audit log, under stage "hostile"; its record."""
    from scientist.audit.log import AuditLog
    from scientist.config import Settings
    from scientist.llm.gateway import LLMGateway
    from scientist.prompts import RenderedPrompt
    from tests.openai_stub import OpenAIStub, ScriptedReply, serve

    stubs = serve(OpenAIStub(replies=[ScriptedReply(content=answer)]))
    stub = next(stubs)
    try:
        settings = Settings(model="openai/gpt-4o-mini", api_base=stub.base_url, api_key="sk-test-not-a-real-key-0000",
                            llm_cache_dir=cache, max_tokens=50)  # type: ignore[arg-type]  # fmt: skip
        gateway = LLMGateway(settings, AuditLog(run_dir))
        gateway.complete(RenderedPrompt(name="hostile", sha256="0" * 64, system="Be brief.", user=prompt),
                         stage="hostile")  # fmt: skip
    finally:
        stubs.close()
    assert stub.requests[0]["messages"][1]["content"] == prompt  # sent as given: storing it changes nothing sent
    return records(run_dir)[-1]


def test_a_model_calls_prompt_and_response_open_from_the_timeline(recorded_run: Path, tmp_path: Path) -> None:
    run_dir = recorded_run
    client = client_for(run_dir)
    log = records(run_dir)
    calls = [r for r in log if r["kind"] == "llm_call"]
    assert calls and all(c["payload"]["prompt_blob"] for c in calls)  # every call of a real run keeps its prompt
    first = calls[0]["payload"]
    prompt = (run_dir / "blobs" / first["prompt_blob"]).read_text(encoding="utf-8")
    assert prompt.startswith(f"model call prompt · request {first['request_hash']} · 2 messages\n--- system (")
    tree = page(client, f"/runs/{run_dir.name}")
    row = f'//tr[@id="event-{calls[0]["seq"]}"]'
    (shown,) = tree.xpath(f'{row}//details[@data-field="prompt_blob"]/pre')
    assert shown.text_content() == prompt.encode()[:4096].decode(errors="ignore")
    (whole,) = tree.xpath(f'{row}//details[@data-field="prompt_blob"]/a/@href')
    assert text_of(page(client, whole), "text") == prompt.encode()[:65536].decode(errors="ignore")
    assert "recorded as its sha256 only" not in tree.xpath(row)[0].text_content()

    # a prompt and an answer carrying script and escape sequences: shown as text, run as nothing
    record = hostile_call(run_dir, f"{EVIL}{ANSI} summarise", f"{EVIL} done", tmp_path / "cache")
    reply = client.get(f"/runs/{run_dir.name}?kind=llm_call&stage=hostile")
    assert reply.status_code == 200 and "<script>alert" not in reply.text and "\x1b" not in reply.text
    tree = lxml.html.fromstring(reply.text)
    row = f'//tr[@id="event-{record["seq"]}"]'
    (shown,) = tree.xpath(f'{row}//details[@data-field="prompt_blob"]/pre')
    assert "--- user (" in shown.text_content() and f"{EVIL} summarise" in shown.text_content()
    (answer,) = tree.xpath(f'{row}//details[@data-field="response_blob"]/pre')
    assert answer.text_content() == f"{EVIL} done"
    assert not tree.xpath("//table[@id='events']//script")
    assert f"OK: {len(log) + 1} records" in text_of(page(client, f"/runs/{run_dir.name}"), "verify")


def test_a_run_folder_moved_elsewhere_still_opens_its_logs(recorded_run: Path, tmp_path: Path) -> None:
    """result.json stores each attempt's stdout relative to the run folder: copied to another place (another
    machine) and the original gone, the page still opens the logs; an old folder's absolute path is still read."""
    from scientist.runs import stored_run_path

    moved = tmp_path / "another-machine" / "runs" / recorded_run.name
    shutil.copytree(recorded_run, moved, symlinks=True)
    stdout = (recorded_run / "experiments/baseline/attempt_0/logs/stdout.log").read_text()
    shutil.rmtree(recorded_run)
    result_path = moved / "experiments/baseline/result.json"
    result = json.loads(result_path.read_text())
    stored = result["attempts"][0]["stdout_path"]
    assert stored == "experiments/baseline/attempt_0/logs/stdout.log"
    assert (moved / stored).read_text() == stdout and stdout
    client = client_for(moved)
    link = f"/runs/{moved.name}/text/{stored}"
    assert link in page(client, f"/runs/{moved.name}").xpath('//details[@id="exp-baseline"]//a/@href')
    assert text_of(page(client, link), "text") == stdout
    # a folder written before: the absolute path of the machine it was made on
    result["attempts"][0]["stdout_path"] = f"/home/someone/old/runs/{moved.name}/{stored}"
    result_path.write_text(json.dumps(result))
    assert stored_run_path(moved, result["attempts"][0]["stdout_path"]) == stored
    assert link in page(client, f"/runs/{moved.name}").xpath('//details[@id="exp-baseline"]//a/@href')
    for outside in ("/etc/passwd", f"/x/{moved.name}", f"{stored}/../../../../../etc/passwd", "../x"):
        assert stored_run_path(moved, outside) is None, outside


def test_sandbox_run_records_name_log_paths_relative_to_the_run(recorded_run: Path, tmp_path: Path) -> None:
    """The audit log's sandbox_run records name their logs relative to the run folder (no host path leaks; a moved
    folder's log still names its files), and the run page opens those logs."""
    sandbox_runs = [r["payload"] for r in records(recorded_run) if r["kind"] == "sandbox_run"]
    assert {p["label"] for p in sandbox_runs} >= {"baseline", "plots"}
    moved = tmp_path / "elsewhere" / "runs" / recorded_run.name
    shutil.copytree(recorded_run, moved, symlinks=True)
    for payload in sandbox_runs:
        for key in ("stdout_path", "stderr_path"):
            stored = payload[key]
            assert not Path(stored).is_absolute() and str(recorded_run.parent) not in stored, (key, stored)
            assert (moved / stored).is_file(), (key, stored)
    audit_text = (recorded_run / "audit.jsonl").read_text()
    assert f"/{recorded_run.name}/experiments/" not in audit_text  # the folder it was made in: elsewhere
    (baseline,) = [p for p in sandbox_runs if p["label"] == "baseline"]
    client = client_for(moved)
    link = f"/runs/{moved.name}/text/{baseline['stdout_path']}"
    assert link in page(client, f"/runs/{moved.name}").xpath('//details[@id="exp-baseline"]//a/@href')
    stdout = (moved / baseline["stdout_path"]).read_text()
    assert stdout and text_of(page(client, link), "text") == stdout


def test_the_timeline_filters_by_kind_and_stage(recorded_run: Path) -> None:
    run_dir = recorded_run
    client = client_for(run_dir)
    log = records(run_dir)
    tree = page(client, f"/runs/{run_dir.name}?kind=llm_call")
    kinds = {e.get("data-kind") for e in tree.xpath('//tr[@class="event"]')}
    assert kinds == {"llm_call"}
    assert len(tree.xpath('//tr[@class="event"]')) == sum(r["kind"] == "llm_call" for r in log)
    tree = page(client, f"/runs/{run_dir.name}?kind=llm_call&stage=write")
    expected = [r["seq"] for r in log if r["kind"] == "llm_call" and r["payload"]["stage"] == "write"]
    assert expected and [int(e.get("id")[6:]) for e in tree.xpath('//tr[@class="event"]')] == expected
    tree = page(client, f"/runs/{run_dir.name}?stage=experiment")
    stages = {e.get("data-stage") for e in tree.xpath('//tr[@class="event"]')}
    assert stages == {"experiment"} and {"sandbox_run", "node_start"} <= {
        e.get("data-kind") for e in tree.xpath('//tr[@class="event"]')
    }
    options = tree.xpath('//select[@name="kind"]/option/text()')
    assert "llm_call" in options and "sandbox_run" in options


def test_the_run_pages_need_the_token_and_refuse_paths_out(recorded_run: Path) -> None:
    run_dir = recorded_run
    client = client_for(run_dir, token="s3cret-token")
    assert client.get(f"/runs/{run_dir.name}").status_code == 401
    assert client.get(f"/runs/{run_dir.name}/text/run.json").status_code == 401
    assert client.get("/?token=s3cret-token").status_code == 200  # the cookie from now on
    assert client.get(f"/runs/{run_dir.name}").status_code == 200
    for url in (
        "/runs/nope",
        "/runs/%2E%2E%2Fetc",
        f"/runs/{run_dir.name}/text/../../../../etc/passwd",
        f"/runs/{run_dir.name}/text/%2Fetc%2Fpasswd",
        f"/runs/{run_dir.name}/text/experiments/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/runs/{run_dir.name}/text/.%2E/run.json",
    ):
        reply = client.get(url)
        assert reply.status_code == 404 and "root:" not in reply.text, url
    for name in ("..", ".", "", "../..", "/etc", f"{run_dir.name}/..", f"../{run_dir.parent.name}"):  # raw HTTP
        assert run_page_context(run_dir.parent, name, "", "", 0) is None, name


# --- a hostile run folder ---------------------------------------------------------------------------------------


def test_script_and_control_sequences_are_shown_inert(recorded_run: Path) -> None:
    run_dir = recorded_run
    ideas = json.loads((run_dir / "ideas.json").read_text())
    ideas[0]["title"] = f"{EVIL}{ANSI}idea"
    (run_dir / "ideas.json").write_text(json.dumps(ideas))
    result = json.loads((run_dir / "experiments/baseline/result.json").read_text())
    result["config"] = {f"<img src=x onerror=alert(1)>{ANSI}": EVIL}
    (run_dir / "experiments/baseline/result.json").write_text(json.dumps(result))
    stdout = run_dir / "experiments/baseline/attempt_0/logs/stdout.log"
    stdout.write_text(f"{ANSI}{EVIL}\nepisode 1\n")
    client = client_for(run_dir)
    for url in (f"/runs/{run_dir.name}", f"/runs/{run_dir.name}/text/experiments/baseline/attempt_0/logs/stdout.log"):
        reply = client.get(url)
        assert reply.status_code == 200
        assert "<script>alert" not in reply.text and "<img src=x" not in reply.text, url
        assert "&lt;script&gt;alert(" in reply.text, url
        assert "\x1b" not in reply.text and "\x07" not in reply.text, url
        policy = reply.headers["content-security-policy"]  # a second wall: no inline script runs even if one slipped
        script_src = next(part.strip() for part in policy.split(";") if part.strip().startswith("script-src"))
        assert script_src in ("script-src 'none'", "script-src 'self'"), policy
    tree = page(client, f"/runs/{run_dir.name}")
    assert tree.xpath('//strong[@class="idea-title"]')[0].text_content() == f"{EVIL}idea"
    log_page = page(client, f"/runs/{run_dir.name}/text/experiments/baseline/attempt_0/logs/stdout.log")
    assert text_of(log_page, "text").startswith(f"{EVIL}\nepisode 1")


def test_a_symlink_out_of_the_run_is_never_followed(recorded_run: Path, tmp_path: Path) -> None:
    run_dir = recorded_run
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "result.json").write_text(json.dumps({"label": "SECRET-OUTSIDE", "ok": True, "config": {}}))
    (run_dir / "experiments" / "escape").symlink_to(outside)  # a folder link: its result.json is outside
    stdout = run_dir / "experiments/baseline/attempt_0/logs/stdout.log"
    stdout.unlink()
    stdout.symlink_to("/etc/passwd")
    (run_dir / "experiments" / "passwd").mkdir()
    (run_dir / "experiments" / "passwd" / "result.json").symlink_to("/etc/passwd")
    client = client_for(run_dir)
    html = client.get(f"/runs/{run_dir.name}").text
    assert "root:" not in html and "SECRET-OUTSIDE" not in html
    assert 'data-label="escape"' not in html and 'data-label="passwd"' not in html
    tree = lxml.html.fromstring(html)
    for label in ("escape", "passwd"):  # named as damaged (a link is never followed), nothing of the target shown
        (damaged,) = tree.xpath(f'//tr[@data-damaged="{label}"]')
        assert "symlink" in damaged.text_content(), damaged.text_content()
    assert "logs/stdout.log" not in html.split('id="exp-baseline"')[1].split("</details>")[0]
    for path in ("experiments/baseline/attempt_0/logs/stdout.log", "experiments/passwd/result.json",
                 "experiments/escape/result.json"):  # fmt: skip
        reply = client.get(f"/runs/{run_dir.name}/text/{path}")
        assert reply.status_code == 404 and "root:" not in reply.text and "SECRET" not in reply.text, path


def get_within(client: TestClient, url: str, seconds: float) -> Any:
    """The reply, or a failure if the server blocks (a FIFO opened for a blocking read would hang forever)."""
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.setdefault("reply", client.get(url)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert "reply" in box, f"{url} blocked for {seconds}s"
    return box["reply"]


def test_fifos_named_like_results_logs_and_blobs_block_nothing(recorded_run: Path) -> None:
    run_dir = recorded_run
    (run_dir / "experiments" / "fifo_run").mkdir()
    os.mkfifo(run_dir / "experiments" / "fifo_run" / "result.json")
    stdout = run_dir / "experiments/baseline/attempt_0/logs/stdout.log"
    stdout.unlink()
    os.mkfifo(stdout)
    call = next(r for r in records(run_dir) if r["kind"] == "llm_call")
    blob = run_dir / "blobs" / call["payload"]["response_blob"]
    blob.chmod(0o644)
    blob.unlink()
    os.mkfifo(blob)  # `audit verify` hashing this would block: the page must not try
    client = client_for(run_dir)
    reply = get_within(client, f"/runs/{run_dir.name}", 30)
    assert reply.status_code == 200
    tree = lxml.html.fromstring(reply.text)
    assert "not a regular file" in text_of(tree, "verify")
    assert not tree.xpath('//tr[@data-label="fifo_run"]')
    (damaged,) = tree.xpath('//tr[@data-damaged="fifo_run"]')  # named as damaged, not read
    assert "experiments/fifo_run/result.json is not a regular file" in damaged.text_content()
    assert f"blob {call['payload']['response_blob']} missing or not a regular file" in reply.text
    log_reply = get_within(client, f"/runs/{run_dir.name}/text/experiments/baseline/attempt_0/logs/stdout.log", 30)
    assert log_reply.status_code == 404


def test_a_100_mb_stdout_is_paged_not_loaded(recorded_run: Path) -> None:
    """The page and the log view of a 100 MB log: small responses, and the server never holds the file (peak
    memory traced across the app's threads stays far below the file's size)."""
    import tracemalloc

    run_dir = recorded_run
    stdout = run_dir / "experiments/baseline/attempt_0/logs/stdout.log"
    block = b"episode 0000001: mean proxy return 9.302 <b>bold?</b>\n" * 20_000  # ~1.1 MB per write
    with stdout.open("wb") as handle:
        handle.write(b"FIRST LINE\n")
        for _ in range(100 * 1024 * 1024 // len(block) + 1):
            handle.write(block)
        handle.write(b"LAST LINE\n")
    size = stdout.stat().st_size
    assert size > 100 * 1000 * 1000
    client = client_for(run_dir)
    tracemalloc.start()
    run_page = client.get(f"/runs/{run_dir.name}")
    assert run_page.status_code == 200 and len(run_page.content) < 2_000_000
    url = f"/runs/{run_dir.name}/text/experiments/baseline/attempt_0/logs/stdout.log"
    first = client.get(url)
    assert first.status_code == 200 and len(first.content) < 200_000  # one 64 KiB page, not 50 MB
    tree = lxml.html.fromstring(first.text)
    assert text_of(tree, "text").startswith("FIRST LINE\n") and "LAST LINE" not in first.text
    assert f"of {size}" in text_of(tree, "position") and "<b>bold?</b>" not in first.text
    last_url = tree.xpath('//a[@id="last"]/@href')[0]
    last = client.get(last_url)
    assert last.status_code == 200 and len(last.content) < 200_000
    assert text_of(lxml.html.fromstring(last.text), "text").endswith("LAST LINE\n")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"the server held {peak} bytes while paging a {size}-byte log"


def test_a_run_without_experiments_paper_or_review_still_renders(recorded_run: Path) -> None:
    run_dir = recorded_run
    for name in ("experiments", "paper"):
        shutil.rmtree(run_dir / name)
    for name in ("paper.json", "review.json", "ideas.json", "novelty.json"):
        (run_dir / name).unlink()
    (run_dir / "audit.jsonl").write_bytes((run_dir / "audit.jsonl").read_bytes() + b"not json\n")
    tree = page(client_for(run_dir), f"/runs/{run_dir.name}")
    assert "No paper." in text_of(tree, "paper") and "No review." in text_of(tree, "reviews")
    assert "BROKEN" in text_of(tree, "verify")
    assert "not audit records" in text_of(tree, "timeline-count")


def test_a_damaged_record_is_shown_as_damaged_naming_the_file_and_the_problem(recorded_run: Path) -> None:
    """A result.json, paper.json or review.json the models refuse used to vanish from the page as if never written
    (issue 25): each is now named, with what is wrong with it, and the rest of the page still shows."""
    run_dir = recorded_run
    labels = sorted(p.parent.name for p in (run_dir / "experiments").glob("*/result.json"))
    assert "baseline" in labels and len(labels) > 1
    (run_dir / "experiments/baseline/result.json").write_text(json.dumps({"label": "baseline", "attempts": "x"}))
    (run_dir / "paper.json").write_text(json.dumps({"title": "T", "latex": "compiled"}))
    review = json.loads((run_dir / "review.json").read_text())
    (run_dir / "review.json").write_text(json.dumps({**review, "form": {**review["form"], "overall": 11}}))
    (run_dir / "experiments" / "unreadable").mkdir()
    (run_dir / "experiments" / "unreadable" / "result.json").write_text("{not json")
    tree = page(client_for(run_dir), f"/runs/{run_dir.name}")

    (row,) = tree.xpath('//tr[@data-damaged="baseline"]')
    assert "experiments/baseline/result.json is damaged: attempts: Input should be a valid list" in row.text_content()
    (row,) = tree.xpath('//tr[@data-damaged="unreadable"]')
    assert "experiments/unreadable/result.json is not valid JSON" in row.text_content()
    shown = {row.get("data-label") for row in tree.xpath('//table[@id="experiment-runs"]/tr[@data-label]')}
    assert shown == set(labels) - {"baseline"}  # the readable runs are all still there
    assert "paper.json is damaged: latex" in text_of(tree, "paper-damaged")
    assert "review.json is damaged: form.overall" in text_of(tree, "reviews-damaged")
    assert not tree.xpath('//*[@id="paper-title"]') and not tree.xpath('//*[@id="decision"]')


@pytest.mark.parametrize("offset", ["-5", "abc", "999999999999"])
def test_odd_offsets_give_a_page_not_an_error(recorded_run: Path, offset: str) -> None:
    run_dir = recorded_run
    reply = client_for(run_dir).get(f"/runs/{run_dir.name}/text/run.json?offset={offset}")
    assert reply.status_code == 200


def test_the_live_status_follows_the_log_without_reading_it_whole(recorded_run: Path) -> None:
    from scientist.audit.log import AuditLog

    run_dir = recorded_run
    client = client_for(run_dir)
    log = records(run_dir)
    status = client.get(f"/api/runs/{run_dir.name}").json()
    assert status["status"] == "completed" and status["events"] == len(log)
    assert status["last"]["kind"] == log[-1]["kind"] == "run_end" and status["stage"] == "review (end)"
    audit = AuditLog(run_dir)
    for number in range(3000):  # a log far longer than the tail the live view reads
        audit.append(
            "paper_section", "pipeline", filled("paper_section", audit, section=f"s{number}", prompt_template="x" * 100)
        )
    audit.append("node_start", "pipeline", {"node": f"write{EVIL}"})
    status = client.get(f"/api/runs/{run_dir.name}").json()
    assert status["events"] == len(log) + 3001 and status["stage"] == f"write{EVIL} (start)"
    assert client.get("/api/runs/nope").status_code == 404
    script = client.get("/static/live.js")
    assert script.status_code == 200 and "textContent" in script.text and "innerHTML" not in script.text


def test_a_reloaded_page_sees_every_change_to_the_log_and_blobs(recorded_run: Path) -> None:
    """The page keeps its parse and its verification while the files are unchanged; any change is seen."""
    from scientist.audit.log import AuditLog

    run_dir = recorded_run
    client = client_for(run_dir)
    log = records(run_dir)
    assert f"OK: {len(log)} records" in text_of(page(client, f"/runs/{run_dir.name}"), "verify")
    AuditLog(run_dir).append(
        "monitor_event", "monitor", filled("monitor_event", monitor="late", severity="low", evidence="new")
    )
    tree = page(client, f"/runs/{run_dir.name}")
    assert f"OK: {len(log) + 1} records" in text_of(tree, "verify") and "late" in text_of(tree, "flags")
    call = next(r for r in log if r["kind"] == "llm_call")
    blob = run_dir / "blobs" / call["payload"]["response_blob"]
    size = blob.stat().st_size
    blob.chmod(0o644)
    blob.write_bytes(b"X" * size)  # same size: only the content (and so the ctime) changes
    verdict = text_of(page(client, f"/runs/{run_dir.name}"), "verify")
    assert "BROKEN" in verdict and "altered" in verdict


def test_special_files_in_a_run_folder_stall_neither_the_runs_list_nor_the_run_page(
    recorded_run: Path, tmp_path: Path
) -> None:
    """FIFOs named run.json, audit.jsonl, audit.head and approvals.sqlite, and a blobs folder linked elsewhere: every
    page still answers (before, the runs list read them with blocking opens, on the server's event loop)."""
    runs_dir = recorded_run.parent
    other = runs_dir / "fifo-run"
    other.mkdir()
    os.mkfifo(other / "run.json")
    os.mkfifo(other / "approvals.sqlite")
    (recorded_run / "audit.head").unlink()
    os.mkfifo(recorded_run / "audit.head")
    client = client_for(recorded_run)
    index = get_within(client, "/", 30)
    assert index.status_code == 200 and recorded_run.name in index.text and "fifo-run" not in index.text
    assert get_within(client, "/api/status", 30).status_code == 200
    reply = get_within(client, f"/runs/{recorded_run.name}", 30)
    assert "audit.head is not a regular file" in text_of(lxml.html.fromstring(reply.text), "verify")
    (recorded_run / "audit.head").unlink()
    elsewhere = tmp_path / "blobs-elsewhere"
    shutil.move(recorded_run / "blobs", elsewhere)
    (recorded_run / "blobs").symlink_to(elsewhere)
    reply = get_within(client, f"/runs/{recorded_run.name}", 30)
    assert "blobs is not a folder" in text_of(lxml.html.fromstring(reply.text), "verify")
    log = recorded_run / "audit.jsonl"
    log.unlink()
    os.mkfifo(log)
    index = get_within(client, "/", 30)
    assert index.status_code == 200
    reply = get_within(client, f"/runs/{recorded_run.name}", 30)
    assert reply.status_code == 200 and "no audit log" in reply.text
    assert get_within(client, f"/api/runs/{recorded_run.name}", 30).json()["events"] == 0


def test_the_paper_section_lists_the_citations_no_source_confirmed(recorded_run: Path) -> None:
    run_dir = recorded_run
    tree = page(client_for(run_dir), f"/runs/{run_dir.name}")
    assert "not checked" in text_of(tree, "unconfirmed-citations")  # the recorded run ran with citation_check off
    paper = json.loads((run_dir / "paper.json").read_text())
    paper["citation_checks"] = [
        {"citation": "verified2020", "status": "verified", "source": "crossref", "mismatched": [], "reason": ""},
        {"citation": "moved2019", "status": "mismatch", "source": "openalex", "mismatched": ["year"],
         "reason": "openalex has 'Moved' (2012)"},
        {"citation": "lost2021", "status": "unverified", "source": None, "mismatched": [], "reason": EVIL},
    ]  # fmt: skip
    (run_dir / "paper.json").write_text(json.dumps(paper))
    tree = page(client_for(run_dir), f"/runs/{run_dir.name}")
    listed = text_of(tree, "unconfirmed-citations")
    assert "moved2019: mismatch (year)" in listed and "lost2021: unverified" in listed and EVIL in listed
    assert "verified2020" not in listed and not tree.xpath("//script[contains(., 'pwned')]")
    paper["citation_checks"] = paper["citation_checks"][:1]
    (run_dir / "paper.json").write_text(json.dumps(paper))
    assert "every reference was verified" in text_of(page(client_for(run_dir), f"/runs/{run_dir.name}"),
                                                     "unconfirmed-citations")  # fmt: skip
