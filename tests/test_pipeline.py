"""The whole graph on recorded model responses: artifacts, audit, kill -9 + resume, budget stop + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from scientist.audit.log import AuditLog
from scientist.reviews.form import EnsembleReview, ReviewForm
from tests.conftest import FIXTURE_TOPIC, SCIENTIST, chosen_sandbox, replay_env, run_cli
from tests.false_alarm_support import check_false_alarms

pytestmark = pytest.mark.slow


def only_run(work: Path) -> Path:
    (run_dir,) = (work / "runs").iterdir()
    return run_dir


def node_events(run_dir: Path, kind: str, node: str) -> int:
    return len(AuditLog(run_dir).find(kind=kind, node=node))


def test_full_graph_in_replay_mode(isolated_env: Path, replay_store: Path, tmp_path: Path) -> None:
    # A cold embedding cache of its own, so the preflight's model warm-up is taken (the suite shares a warm one).
    cold_cache = str(tmp_path / "embeddings.sqlite3")
    result = run_cli("run", FIXTURE_TOPIC, env=replay_env(
        replay_store, SCIENTIST_EMBEDDING_CACHE=cold_cache, SCIENTIST_SANDBOX=chosen_sandbox()  # Docker, end to end
    ))
    assert result.returncode == 0, result.stderr + result.stdout
    run_dir = only_run(isolated_env)
    assert "run folder:" in result.stdout
    check_false_alarms("fixture_run", [run_dir])  # one of the honest runs (tests/false_alarm_support.py)
    (ideate_end,) = AuditLog(run_dir).find(kind="node_end", node="ideate")
    assert ideate_end.payload["state_keys"] and all(isinstance(key, str) for key in ideate_end.payload["state_keys"])

    ideas = json.loads((run_dir / "ideas.json").read_text())
    assert len(ideas) >= 1 and all(idea["title"] for idea in ideas)
    verdicts = json.loads((run_dir / "novelty.json").read_text())
    assert {verdict["index"] for verdict in verdicts} >= {idea["index"] for idea in ideas}
    for verdict in verdicts:  # judged offline against the synthetic corpus (FIXTURE_ENV), with the evidence kept
        assert verdict["novelty"] in {"novel", "not_novel"} and verdict["reasoning"]
        assert verdict["offline"] and not verdict["fresh_search"] and verdict["index_papers"] >= 40
        assert verdict["top_k"] and verdict["max_similarity"] == verdict["top_k"][0]["score"]
        assert all(paper["id"].startswith("synthetic-") for paper in verdict["top_k"])
        assert verdict["outcome"] in {"kept", "filtered", "sent_back", "kept_least_similar"}
    selected = json.loads((run_dir / "selected_idea.json").read_text())
    assert selected["novelty"]["novel"] or selected["novelty"]["proceeded_without_novel_idea"]
    assert [paper["id"] for paper in selected["related_work"]][:1] and selected["related_work"][0]["title"]
    assert len(AuditLog(run_dir).find(kind="novelty_verdict")) == len(verdicts)
    assert [record for record in AuditLog(run_dir).find(kind="warm_up") if record.actor == "index"]
    records = {r["label"]: r for r in map(json.loads, map(Path.read_text, run_dir.glob("experiments/*/result.json")))}
    compared = [records["baseline"], *(r for label, r in records.items() if label != "baseline" and r["ok"])]
    assert len(compared) >= 2, records  # an edited run worked, or else the config-only fallback did
    for record in compared:
        assert record["ok"], record
        metrics = json.loads((run_dir / record["final_info_path"]).read_text())["metrics"]
        assert {"true_return", "proxy_return", "gaming_rate"} <= set(metrics)
    edit_runs = [r for label, r in records.items() if label.startswith("run_")]
    assert len(edit_runs) == 1 and all(len(r["attempts"]) <= 2 for r in edit_runs)  # K = 1 run, 1 + F = 2 tries
    notes = (run_dir / "experiments" / "notes.md").read_text()
    assert all(f"## {label} " in notes for label in records)
    tex = (run_dir / "paper" / "paper.tex").read_text()
    assert "\\begin{document}" in tex
    review = json.loads((run_dir / "review.json").read_text())
    assert review["status"] == "reviewed", review  # the whole EnsembleReview at the defaults: 2 reviewers, 1 reflection
    assert set(review["form"]) == set(ReviewForm.model_fields)
    ensemble = EnsembleReview.model_validate(review)
    assert len(ensemble.reviews) == 2 and all(1 <= len(r.rounds) <= 2 for r in ensemble.reviews)
    assert ensemble.meta is not None and ensemble.scores
    review_calls = [c for c in AuditLog(run_dir).find(kind="llm_call") if c.payload["stage"] == "review"]
    assert review_calls and all(call.payload["prompt_template"] == "review" for call in review_calls)
    assert "References" in (run_dir / "paper" / "paper.md").read_text()  # the closest indexed papers
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"

    calls = AuditLog(run_dir).find(kind="llm_call")
    assert calls and all(call.payload["replayed"] for call in calls)  # 0 live calls
    for node in ("ideate", "novelty", "select", "experiment", "write", "review"):
        assert node_events(run_dir, "node_end", node) == 1

    verify = run_cli("audit", "verify", run_dir.name)
    assert verify.returncode == 0 and "OK" in verify.stdout


def test_one_edited_byte_breaks_verify_at_that_record(recorded_run: Path) -> None:
    log = recorded_run / "audit.jsonl"
    lines = log.read_bytes().split(b"\n")
    target = 5
    lines[target] = lines[target].replace(b'"node"', b'"nodf"', 1) if b'"node"' in lines[target] else (
        lines[target][:-3] + bytes([lines[target][-3] ^ 1]) + lines[target][-2:]
    )
    log.write_bytes(b"\n".join(lines))
    result = run_cli("audit", "verify", recorded_run.name)
    assert result.returncode == 1
    assert f"line {target + 1}" in " ".join(result.stdout.split())


def test_kill_9_during_experiment_then_resume(isolated_env: Path, replay_store: Path) -> None:
    env = {**os.environ, **replay_env(replay_store)}
    process = subprocess.Popen(
        [*SCIENTIST, "run", FIXTURE_TOPIC], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    killed_in_experiment = False
    while time.monotonic() < deadline and process.poll() is None:
        runs = isolated_env / "runs"
        logs = list(runs.glob("*/audit.jsonl")) if runs.exists() else []
        if logs and '"sandbox_run_start"' in logs[0].read_text():
            os.killpg(process.pid, signal.SIGKILL)
            killed_in_experiment = True
            break
        time.sleep(0.05)
    process.wait(timeout=30)
    assert killed_in_experiment, "the run ended before the experiment node started"
    run_dir = only_run(isolated_env)
    assert node_events(run_dir, "node_end", "experiment") == 0

    result = run_cli("resume", run_dir.name, env=replay_env(replay_store))
    assert result.returncode == 0, result.stderr
    for node in ("ideate", "novelty", "select"):
        assert node_events(run_dir, "node_start", node) == 1, node  # finished nodes never re-ran
    assert node_events(run_dir, "node_start", "experiment") == 2
    for node in ("experiment", "write", "review"):
        assert node_events(run_dir, "node_end", node) == 1
    ideate_calls = [c for c in AuditLog(run_dir).find(kind="llm_call") if c.payload["stage"] == "ideate"]
    assert len(ideate_calls) == len(json.loads((run_dir / "ideas.json").read_text()))
    assert run_cli("audit", "verify", run_dir.name).returncode == 0


def test_budget_stop_pauses_cleanly_and_resumes(isolated_env: Path, replay_store: Path) -> None:
    result = run_cli("run", FIXTURE_TOPIC, env=replay_env(replay_store, SCIENTIST_BUDGET_TOKENS="9000"))
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "budget" in result.stderr
    run_dir = only_run(isolated_env)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "paused" and "budget" in info["status_detail"]
    spent = sum(c.payload["total_tokens"] for c in AuditLog(run_dir).find(kind="llm_call"))
    assert 0 < spent <= 9000
    nodes = ("ideate", "novelty", "select", "experiment", "write")
    done_before = {node for node in nodes if node_events(run_dir, "node_end", node)}
    assert {"ideate", "experiment"} <= done_before  # the cap hit a later node: earlier work is kept

    again = run_cli("resume", run_dir.name, "--budget-tokens", "10000000", env=replay_env(replay_store))
    assert again.returncode == 0, again.stderr
    for node in done_before:
        assert node_events(run_dir, "node_start", node) == 1
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert run_cli("resume", run_dir.name, env=replay_env(replay_store)).returncode == 2  # already complete
