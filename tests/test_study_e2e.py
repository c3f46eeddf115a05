"""The end-to-end study on the embedded model, replayed: plain vs full x n=4 x 2 seeds on reward_misspec.

tests/fixtures/study/e2e.toml is run by the real CLI (`study run` → 16 whole runs, experiments in the real
sandbox) on the model responses recorded once into tests/fixtures/llm_study/ (`make record-study-fixtures`; see
tests/record_study_fixtures.py for its duration; re-record after any prompt, schema or template change; without
recorded responses the test skips, saying so). Then `study report`
writes report.md, the PNG plots and the HTML page, and the test checks them against measure.stats computed by hand
on the stored scores.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scientist.measure.stats import best_of_k_curve
from scientist.store import open_store
from scientist.store.models import Cell, Judgement, Run, Score, Study
from tests.conftest import FIXTURES, SYNTHETIC_CORPUS, quick_sandbox, run_cli
from tests.false_alarm_support import check_false_alarms
from tests.openai_stub import OpenAIStub
from tests.openai_stub import serve as serve_openai
from tests.schema_answers import SchemaResponder
from tests.stub_study import pin_settings

STUDY_FILE = FIXTURES / "study" / "e2e.toml"
STUDY_FIXTURES = FIXTURES / "llm_study"
STUDY_NAME = "e2e-plain-vs-full"
OUTCOME_FILE = FIXTURES / "study" / "e2e_outcome.json"  # what the recording produced, written by the recorder


def study_outcome(db: str) -> dict[str, Any]:
    """Each cell's status, each run's (variant, seed, sample, status, own overall score) and the judge's verdict on
    it (status, overall): what a replay must repeat.

    The embedded model is tiny, so some of its runs fail honestly (no valid idea, a review it cannot fill) and the
    judge may not fill its form for some papers; the recording keeps them, and the replay must fail the same runs
    and verdicts in the same way."""
    store = open_store(db)
    with store.session() as session:
        cells = {c.id: c for c in session.scalars(select(Cell))}
        overall = dict(session.execute(select(Score.run_id, Score.value).where(Score.metric == "overall")).all())
        verdicts = {j.run_id: (j.status, j.overall) for j in session.scalars(select(Judgement))}
        place = {r.id: [cells[r.cell_id or ""].variant, cells[r.cell_id or ""].seed, r.sample_index]
                 for r in session.scalars(select(Run))}  # fmt: skip
        runs = sorted([*place[r.id], r.status, overall.get(r.id)] for r in session.scalars(select(Run)))
        judged = sorted([*place[run_id], *verdict] for run_id, verdict in verdicts.items())
        statuses = sorted([c.variant, c.seed, c.status] for c in cells.values())
    store.close()
    return {"cells": statuses, "runs": runs, "judged": judged}


def study_env(work: Path, store: Path, mode: str, sandbox: str) -> dict[str, str]:
    """What recording and replay share: offline novelty against the synthetic corpus in a fresh index."""
    return {
        "SCIENTIST_LLM_MODE": mode,
        "SCIENTIST_LLM_CACHE_DIR": str(store),
        "SCIENTIST_SANDBOX": sandbox,
        "SCIENTIST_ARXIV_OFFLINE": "1",
        "SCIENTIST_SEED_CORPUS": str(SYNTHETIC_CORPUS),
        "SCIENTIST_INDEX_DIR": str(work / "index"),
        "SCIENTIST_ARXIV_CACHE_DIR": str(work / "arxiv"),
        "XDG_DATA_HOME": str(work / "data"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # Recorded before a cut answer's retry raised max_tokens (issue 29): re-ask with the same cap, as recorded.
        # Drop this when the study and probe fixtures are recorded again.
        "SCIENTIST_TRUNCATION_GROWTH": "1",
    }


@pytest.mark.slow
def test_recorded_study_replays_into_a_report_with_curves_and_compute_matched_table(tmp_path: Path) -> None:
    if not any(STUDY_FIXTURES.rglob("*.json")) or not OUTCOME_FILE.is_file():
        # Not recorded yet: 16 embedded-model runs take 30-40 min on 2 quiet cores, which no session had left
        # after the writer changed the prompts (issue 7 stays open until it is recorded and this test runs).
        pytest.skip(f"no recorded study in {STUDY_FIXTURES}: run `make record-study-fixtures` (~35 min)")
    store_dir = tmp_path / "llm-replay"
    shutil.copytree(STUDY_FIXTURES, store_dir)
    expected = json.loads(OUTCOME_FILE.read_text(encoding="utf-8"))
    run_and_check(tmp_path, STUDY_FILE, study_env(tmp_path, store_dir, "replay", quick_sandbox()), expected)
    check_false_alarms("e2e_study", [tmp_path / "runs"])  # 16 of the honest runs (tests/false_alarm_support.py)


@pytest.mark.slow
def test_the_same_study_on_the_loopback_stub_reports_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The e2e study's grid and settings with the schema-answering stub as the model: the whole path from
    `study run` to the report, whatever the state of the recorded responses."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    for stub in serve_openai(OpenAIStub(responder=SchemaResponder())):
        text = STUDY_FILE.read_text().replace('models = ["local/smollm2-135m"]', 'models = ["openai/gpt-4o-mini"]')
        # One seed, best-of-2: the same path to the report in a quarter of the runs (the recorded replay has 16).
        text = text.replace("n = 4\n", "n = 2\n").replace("seeds = [0, 1]\n", "seeds = [0]\n")
        assert "n = 2\n" in text and "seeds = [0]\n" in text, "tests/fixtures/study/e2e.toml changed its grid lines"
        text = pin_settings(text, f'api_base = "{stub.base_url}"')  # and one seed per run (tests/stub_study.py)
        judge = '[judge]\nmodel = "local/smollm2-135m"\n'
        assert judge in text, "tests/fixtures/study/e2e.toml changed its judge table"
        text = text.replace(judge, '[judge]\nmodel = "openai/gpt-4o-mini"\n')  # the fixed judge, at the same stub
        study = tmp_path / "e2e-stub.toml"
        study.write_text(text)
        run_and_check(tmp_path, study, study_env(tmp_path, tmp_path / "llm-cache", "live", quick_sandbox()))


def run_and_check(
    tmp_path: Path,
    study_file: Path,
    env: dict[str, str],
    expected: dict[str, Any] | None = None,
    score: str = "judge",
) -> None:
    """Run the study and check its report; `expected` (a recorded outcome) replaces "every run completed"; `score`
    self: no judge pass, the report on the runs' own reviews."""
    db = str(tmp_path / "study.sqlite")
    judging = ["--no-judge"] if score == "self" else []
    # Two cells at a time (the local executor's threads): the runs wait on sandbox containers more than on the CPU,
    # and the replay must give the recorded outcome whatever order the cells finish in.
    ran = run_cli("study", "run", str(study_file), "--db", db, "--runs-dir", str(tmp_path / "runs"), *judging,
                  "--concurrency", "2", env=env, timeout=3600)  # fmt: skip
    exit_code = 0 if expected is None else expected["exit_code"]  # 4 when the recording left a run at an approval
    assert ran.returncode == exit_code, ran.stderr[-3000:] + ran.stdout[-3000:]
    outcome = {**study_outcome(db), "exit_code": ran.returncode}
    grid = tomllib.loads(study_file.read_text(encoding="utf-8"))
    cells = len(grid["variants"]) * len(grid["seeds"])
    assert len(outcome["cells"]) == cells and len(outcome["runs"]) == cells * grid["n"]  # no duplicates
    if expected is None:
        assert f"{cells} of {cells} cells completed, 0 failed" in ran.stdout, ran.stdout[-3000:]
        assert all(status == "completed" for *_, status in outcome["cells"])
        assert all(run[3] == "completed" for run in outcome["runs"])
    else:
        assert outcome == expected  # the replay repeats the recorded study run for run, score for score
    store = open_store(db)
    with store.session() as session:  # the scores in the report's order: by cell, then sample
        variant_of = {c.id: c.variant for c in session.scalars(select(Cell))}
        overall = dict(session.execute(select(Score.run_id, Score.value).where(Score.metric == "overall")).all())
        if score == "judge":  # every run completed (the stub answers every form), each judged by the study's judge
            (judge_hash,) = {study.spec["judge_hash"] for study in session.scalars(select(Study))}
            query = select(Judgement.run_id, Judgement.overall).where(Judgement.judge_hash == judge_hash)
            overall = dict(session.execute(query).all())
            if expected is None:  # the stub answers every form: every run judged, with a score
                assert len(overall) == len(outcome["runs"]) and None not in overall.values()
            # a paper the judge could not score counts at the form's minimum, as a failed run does (below)
            overall = {run_id: value for run_id, value in overall.items() if value is not None}
        scores: dict[str, list[float]] = {"plain": [], "full": []}
        for run in sorted(session.scalars(select(Run)), key=lambda r: (r.cell_id or "", r.sample_index or 0)):
            value = overall.get(run.id)
            if value is None and run.status in ("failed", "completed", "stopped"):
                value = 1.0  # failures are counted at the form's minimum (a run still waiting is left out)
            if value is not None:
                scores[variant_of[run.cell_id or ""]].append(value)
    store.close()
    assert all(len(values) >= 2 for values in scores.values()), scores  # a curve needs k = 1 and 2 at least

    out, page = tmp_path / "report", tmp_path / "report.html"
    reported = run_cli("study", "report", STUDY_NAME, "--db", db, "--out", str(out), "--html", str(page),
                       "--score", score)  # fmt: skip
    assert reported.returncode == 0, reported.stderr
    markdown = (out / "report.md").read_text()
    for variant in ("plain", "full"):
        section = markdown[markdown.index(f"## {variant}\n") :]
        curve = best_of_k_curve(scores[variant], seed=0)
        for point in curve[:4]:  # per variant: E[max of k] with its 95 % CI for k = 1..min(4, scored runs)
            assert point.ci_low is not None and point.ci_high is not None
            row = f"| {point.k} | {point.mean:.3f} | [{point.ci_low:.3f}, {point.ci_high:.3f}] |"
            assert row in section, (row, section[:1500])
    matched = markdown[markdown.index("## full vs plain best-of-n at the same token budget") :]
    rows = re.findall(r"^\| (\d+) \| [\d,]+ \| ", matched, flags=re.MULTILINE)
    assert [int(k) for k in rows][:4] == list(range(1, min(4, len(scores["full"])) + 1))
    assert "## Paired comparisons with plain" in markdown
    for name in ("quality_vs_k", "score_distribution", "cost_vs_quality"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
        assert f"({name}.png)" in markdown
    html = page.read_text()
    assert html.count("<svg") == 3 and STUDY_NAME in html and "<table>" in html
