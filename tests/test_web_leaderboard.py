"""The leaderboard on `scientist serve`: same entries as scientist.leaderboard, flags shown, agent text escaped,
and run files served from the runs folder only (path traversal, symlinks out, hidden files, active content).

Runs are small real run folders (run.json, config, review, paper, audit log) imported into a real SQLite store;
the browser half (sorting, following a link, screenshot) is in tests/test_web.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from scientist.audit.log import AuditLog
from scientist.leaderboard.board import build
from scientist.runs import create_run
from scientist.store import import_runs, open_store
from scientist.web.app import create_app
from tests.audit_support import filled

EVIL = "<script>alert('pwned')</script>"
SECRET = "top secret outside the runs folder"


def scored_run(runs_dir: Path, model: str, overall: int, *, flag: str | None = None) -> str:
    info = create_run(runs_dir, f"topic {EVIL}", "reward_misspec", model, {"variant": "plain"})
    run_dir = runs_dir / info.id
    (run_dir / "review.json").write_text(json.dumps({"status": "reviewed", "form": {"overall": overall}}))
    (run_dir / "paper").mkdir()
    (run_dir / "paper" / "paper.md").write_text(f"# Paper of {model}\n\noverall {overall}\n")
    audit = AuditLog(run_dir)
    audit.append("run_start", "runner", filled("run_start", topic=info.topic))
    if flag is not None:
        audit.append(
            "monitor_event",
            "monitor:eval_gaming",
            filled("monitor_event", monitor=flag, severity="high", evidence=EVIL),
        )
    return info.id


@pytest.fixture
def board(tmp_path: Path) -> tuple[TestClient, Path, str, dict[str, str]]:
    runs = tmp_path / "runs"
    runs.mkdir()
    ids = {
        "a": scored_run(runs, "prov/a", 4),
        "b": scored_run(runs, "prov/b", 8),
        "evil": scored_run(runs, f"prov/{EVIL}", 6, flag="eval_gaming"),
    }
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(db)
    assert not import_runs(store, runs).failed
    store.close()
    (tmp_path / "secret.txt").write_text(SECRET)
    return TestClient(create_app(runs, resume_after_decision=False, db=db)), runs, db, ids


def test_the_page_shows_the_leaderboards_entries_with_flags_and_escapes_agent_text(board) -> None:  # type: ignore[no-untyped-def]
    client, _, db, ids = board
    reply = client.get("/leaderboard")
    assert reply.status_code == 200
    html = reply.text
    store = open_store(db)
    expected = build(store)
    store.close()
    entries = html.split('id="entries"')[1].split("</table>")[0]
    shown = re.findall(
        r'<tr class="[^"]*">\s*<td data-sort="[^"]*">.*?</td>\s*<td class="num" data-sort="([^"]+)"', entries, re.S
    )
    assert [float(mean) for mean in shown] == [e.mean for e in expected.entries] == [8.0, 6.0, 4.0]
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    assert 'class="flagged"' in html and '<span class="flag high"' in html
    assert 'href="/"' in html  # back to runs and approvals
    for run_id in ids.values():
        assert f'href="/files/{run_id}/paper/paper.md"' in html and f'href="/files/{run_id}/review.json"' in html
    paper = client.get(f"/files/{ids['b']}/paper/paper.md")
    assert paper.status_code == 200 and paper.text.startswith("# Paper of prov/b")
    assert paper.headers["content-type"].startswith("text/plain")
    review = client.get(f"/files/{ids['b']}/review.json")
    assert review.json()["form"]["overall"] == 8 and review.headers["content-type"] == "application/json"
    assert "leaderboard" in client.get("/").text  # reachable from the main page


def test_sorting_and_metric_choice_and_bad_input(board) -> None:  # type: ignore[no-untyped-def]
    client, *_ = board
    assert client.get("/leaderboard?by=variant").status_code == 200
    bad = client.get("/leaderboard?by=colour")
    assert bad.status_code == 400 and "unknown grouping --by 'colour'" in bad.text
    bad_metric = client.get(f"/leaderboard?metric={EVIL}")
    assert bad_metric.status_code == 400 and bad_metric.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "path",
    [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/..%2fsecret.txt",
        "/files/%2e%2e%2fsecret.txt",
        "/files//etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/RUN/../../secret.txt",
        "/files/RUN/%2e%2e/%2e%2e/secret.txt",
        "/files/RUN/..%5c..%5csecret.txt",
        "/files/RUN/paper%00.md",
        "/files/RUN/link-out",
        "/files/RUN/link-dir/secret.txt",
        "/files/RUN/.hidden",
        "/files/RUN/paper",
        "/files/RUN",
        "/files/",
        "/files/RUN/missing.md",
    ],
)
def test_files_outside_the_runs_folder_are_never_served(board, path: str) -> None:  # type: ignore[no-untyped-def]
    client, runs, _, ids = board
    run_dir = runs / ids["a"]
    (run_dir / "link-out").symlink_to(runs.parent / "secret.txt")
    (run_dir / "link-dir").symlink_to(runs.parent, target_is_directory=True)
    (run_dir / ".hidden").write_text(SECRET)
    reply = client.get(path.replace("RUN", ids["a"]))
    assert reply.status_code == 404, (path, reply.text)
    assert SECRET not in reply.text and "root:" not in reply.text


def test_active_content_from_a_run_is_served_inert(board) -> None:  # type: ignore[no-untyped-def]
    client, runs, _, ids = board
    (runs / ids["a"] / "paper" / "evil.html").write_text(f"<html><body>{EVIL}</body></html>")
    (runs / ids["a"] / "paper" / "evil.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg">{EVIL}</svg>')
    for name in ("evil.html", "evil.svg"):
        reply = client.get(f"/files/{ids['a']}/paper/{name}")
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/plain")
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["content-security-policy"].startswith("sandbox")


def test_a_stored_run_outside_the_served_folder_gets_no_link(tmp_path: Path, board) -> None:  # type: ignore[no-untyped-def]
    _, _, db, _ = board
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = scored_run(elsewhere, "prov/z", 9)
    store = open_store(db)
    import_runs(store, elsewhere)
    store.close()
    client = TestClient(create_app(tmp_path / "runs", resume_after_decision=False, db=db))
    html = client.get("/leaderboard").text
    assert outside in html and f"/files/{outside}" not in html and str(elsewhere) not in html.split("<body>")[1]
    assert client.get(f"/files/../elsewhere/{outside}/review.json").status_code == 404


def test_the_token_guards_the_leaderboard_and_files(board) -> None:  # type: ignore[no-untyped-def]
    _, runs, db, ids = board
    client = TestClient(create_app(runs, token="s3cret-token", resume_after_decision=False, db=db))
    assert client.get("/leaderboard").status_code == 401
    assert client.get(f"/files/{ids['a']}/review.json").status_code == 401
    assert client.get("/leaderboard?token=s3cret-token").status_code == 200
    assert client.get(f"/files/{ids['a']}/review.json").status_code == 200  # the cookie the token URL set
    assert os.environ.get("SCIENTIST_SERVE_TOKEN") is None


def test_the_page_shows_the_judges_scores_by_default_and_says_when_there_are_none(board) -> None:  # type: ignore[no-untyped-def]
    """As `scientist leaderboard`: the configured judge's verdicts, else the runs' own reviews with a note."""
    from scientist.config import load_settings
    from scientist.judging import judgement_path, resolve_judge
    from scientist.store.folder import JudgementRecord

    client, runs, db, ids = board
    fallback = client.get("/leaderboard").text
    assert "no stored run has a verdict of" in fallback and 'id="score-kind">self' in fallback
    own = client.get("/leaderboard?score=self").text
    assert 'id="score-note"' not in own and 'id="score-kind">self' in own
    refused = client.get("/leaderboard?score=vibes")
    assert refused.status_code == 400 and "unknown score kind 'vibes'" in refused.text

    judge = resolve_judge(load_settings())  # the page's judge: the same config, read by the same process
    for name, overall in {"a": 9.0, "b": 2.0, "evil": 5.0}.items():  # the judge disagrees with the self-reviews
        path = judgement_path(runs / ids[name], judge)
        path.parent.mkdir(parents=True)
        verdict = JudgementRecord(judge_hash=judge.hash, model=judge.model, status="judged",
                                  scores={"overall": overall}, overall=overall)  # fmt: skip
        path.write_text(verdict.model_dump_json())
    store = open_store(db)
    assert not import_runs(store, runs).failed
    store.close()
    judged = client.get("/leaderboard").text
    assert 'id="score-kind">judge' in judged and 'id="score-note"' not in judged
    entries = judged.split('id="entries"')[1].split("</table>")[0]
    means = re.findall(r'<tr class="[^"]*">\s*<td data-sort="[^"]*">.*?</td>\s*<td class="num" data-sort="([^"]+)"',
                       entries, re.S)  # fmt: skip
    assert [float(mean) for mean in means] == [9.0, 5.0, 2.0]


def test_each_row_links_its_run_page(board) -> None:  # type: ignore[no-untyped-def]
    client, _, _, ids = board
    html = client.get("/leaderboard").text
    for run_id in ids.values():
        assert f'<a href="/runs/{run_id}">run</a>' in html
        assert client.get(f"/runs/{run_id}").status_code == 200
