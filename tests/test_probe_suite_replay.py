"""The probe suite on the embedded model, replayed: every probe kind, two samples, scored from the audit log.

tests/fixtures/probes/live.toml was run once live on local/smollm2-135m (`make record-probe-fixtures`, which also
wrote what it scored into tests/fixtures/probes/live_outcome.json). Here the real CLI runs the same suite on the
recorded responses (replay mode: a missing response is an error, never a live call), in the real sandbox, and must
score every cell exactly as the recording did; then `probe report` must show every score for every probe. Without a
recording the test skips, saying so (issue 12 stays open until one is committed).

Issue 23: a cell is scored only if its probe reached the agent. Which cells did is computed here straight from the
runs' audit logs (raw JSON lines, not the scorer's code): the `probe_injected` record followed by an agent model
call whose stored prompt carries the operator message (or, for a probe without one, any agent model call). No
scored cell may lack that evidence, and every cell without it must be stored and reported as not reached.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scientist.store import open_store
from scientist.store.models import ProbeResult
from tests.conftest import FIXTURES, quick_sandbox, run_cli
from tests.test_study_e2e import study_env

SUITE_FILE = FIXTURES / "probes" / "live.toml"
SUITE_NAME = "live-probes"
PROBE_FIXTURES = FIXTURES / "llm_probes"
OUTCOME_FILE = FIXTURES / "probes" / "live_outcome.json"
PROBE_KINDS = ("conflicting_instruction", "shutdown", "budget_cut", "obstacle", "ood_task", "temptation")
SCORED = ("run_status", "harness_stopped", "decisions", "goal_fulfilment", "instrumental_actions", "compliance",
          "steps_to_comply", "horizon", "choice", "judge_ratings")  # fmt: skip


def suite_outcome(db: str) -> dict[str, Any]:
    """Every cell's scores, keyed by probe and sample: what a replay must repeat."""
    store = open_store(db)
    with store.session() as session:
        results = sorted(session.scalars(select(ProbeResult)), key=lambda r: (r.probe, r.sample))
        cells = [{"probe": r.probe, "sample": r.sample, **{field: getattr(r, field) for field in SCORED}}
                 for r in results]  # fmt: skip
    store.close()
    return {"cells": cells}


def delivered_in_log(run_dir: Path) -> bool:
    """The audit log shows the probe before an agent model call (read without scientist's code)."""
    records = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    injected = next((r for r in records if r["kind"] == "probe_injected"), None)
    if injected is None:
        return False
    message = injected["payload"].get("message")
    for record in records:
        payload = record["payload"]
        if record["kind"] != "llm_call" or record["seq"] <= injected["seq"] or payload.get("stage") == "probe_judge":
            continue
        prompt = (run_dir / "blobs" / payload["prompt_blob"]).read_text(encoding="utf-8")
        if not message or f"[operator message] {message}" in prompt:
            return True
    return False


def delivery_by_cell(db: str, runs: Path) -> list[tuple[str, int, bool | None, float | None, bool]]:
    """Per stored cell: probe, sample, what the store says (reached, compliance), what the audit log shows."""
    store = open_store(db)
    with store.session() as session:
        results = sorted(session.scalars(select(ProbeResult)), key=lambda r: (r.probe, r.sample))
        rows = [(r.probe, r.sample, r.reached, r.compliance, r.run_id) for r in results]
    store.close()
    out = []
    for probe, sample, reached, compliance, run_id in rows:
        (run_dir,) = [path.parent for path in runs.glob(f"probes/*/*/{run_id}/run.json")]
        out.append((probe, sample, reached, compliance, delivered_in_log(run_dir)))
    return out


def run_probe_suite(work: Path, llm_store: Path, mode: str, sandbox: str) -> tuple[Any, str]:
    """`scientist probe run` on the suite file with the shared offline environment; returns the process and db."""
    db = str(work / "probes.sqlite")
    env = study_env(work, llm_store, mode, sandbox)
    ran = run_cli("probe", "run", str(SUITE_FILE), "--db", db, "--runs-dir", str(work / "runs"), env=env,
                  timeout=3600)  # fmt: skip
    return ran, db


@pytest.mark.slow
def test_recorded_probe_suite_replays_to_the_same_scores_and_reports_every_score(tmp_path: Path) -> None:
    if not any(PROBE_FIXTURES.rglob("*.json")) or not OUTCOME_FILE.is_file():
        pytest.skip(f"no recorded probe suite in {PROBE_FIXTURES}: run `make record-probe-fixtures` (~20 min)")
    store_dir = tmp_path / "llm-replay"
    shutil.copytree(PROBE_FIXTURES, store_dir)
    ran, db = run_probe_suite(tmp_path, store_dir, "replay", quick_sandbox())
    assert ran.returncode == 0, ran.stderr[-3000:] + ran.stdout[-3000:]
    outcome = suite_outcome(db)
    assert sorted({cell["probe"] for cell in outcome["cells"]}) == sorted(PROBE_KINDS)
    assert len(outcome["cells"]) == 2 * len(PROBE_KINDS)
    assert outcome == json.loads(OUTCOME_FILE.read_text(encoding="utf-8"))  # score for score, cell for cell

    # Issue 23 acceptance: no scored cell whose perturbation was not delivered, and every undelivered one is stored
    # as not reached (never compliant or non-compliant). Each probe kind is reached in at least one sample.
    delivery = delivery_by_cell(db, tmp_path / "runs")
    assert [(p, s) for p, s, reached, _, shown in delivery if reached and not shown] == []
    assert [(p, s) for p, s, reached, _, shown in delivery if shown and not reached] == []
    unreached = [(p, s, compliance) for p, s, reached, compliance, shown in delivery if not shown]
    assert all(compliance is None for _, _, compliance in unreached), unreached
    assert {p for p, _, _, _, shown in delivery if shown} == set(PROBE_KINDS)
    # this recording: sample 1 of five probes failed at ideation, before the probe's node (ood_task is at ideate)
    assert sorted((p, s) for p, s, _ in unreached) == [(kind, 1) for kind in sorted(set(PROBE_KINDS) - {"ood_task"})]

    out = tmp_path / "plots"
    report = run_cli("probe", "report", SUITE_NAME, "--db", db, "--out", str(out), env={"COLUMNS": "250"})
    assert report.returncode == 0, report.stderr
    rows = [line for line in report.stdout.splitlines() if line.lstrip("│ ").startswith("local/smollm2")]
    assert len(rows) == len(PROBE_KINDS) and all(kind in report.stdout for kind in PROBE_KINDS)
    assert f"{len(unreached)} cell(s) not reached" in report.stdout  # listed with their count
    assert "judge local/smollm2-135m is also the agent model" in report.stdout  # the suite's judge is the agent
    not_reached_column = [int(line.split("│")[-3]) for line in rows]  # model .. failed, not reached, judge
    assert sum(not_reached_column) == len(unreached), rows
    for score in ("goal_fulfilment", "instrumental_actions", "compliance", "steps_to_comply", "horizon", "coherence"):
        png = out / f"{score}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    judged = [cell["judge_ratings"].get("local/smollm2-135m") for cell in outcome["cells"]]
    assert any(rating is not None for rating in judged), judged  # the judge rated at least one trace
