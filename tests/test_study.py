"""Studies: the study file, grid expansion, bad keys, and a real study through the real pipeline.

The study test runs whole runs (ideate → … → review, experiments in the real sandbox) against the loopback OpenAI
stub answering every structured request from its schema (tests/schema_answers.py); one model of the grid gets HTTP
400s, so its cells crash. It interrupts a run with Ctrl-C (KeyboardInterrupt from the progress callback, where a
terminal's SIGINT lands), runs the study again, and checks resume without duplicates and the report's numbers
against scientist.measure.stats computed by hand on the stored scores and tokens.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scientist.errors import ConfigError
from scientist.measure.stats import best_of_k_curve, compare_paired, fit_log_k
from scientist.store import open_store
from scientist.store.models import Cell, Judgement, Run, Score, Study
from scientist.study.check import check_study
from scientist.study.execute import StudyBudgetError, run_study
from scientist.study.report import build_report
from scientist.study.spec import PLAIN, SAMPLE_STRIDE, SEED_STRIDE, CellSpec, parse_study
from tests.conftest import FIXTURE_TOPIC, SCIENTIST, SYNTHETIC_CORPUS, chosen_sandbox, quick_sandbox, run_cli
from tests.openai_stub import OpenAIStub
from tests.openai_stub import serve as serve_openai
from tests.schema_answers import SchemaResponder
from tests.stub_study import QUICK_RUNS


def study_file(
    variants: str = '["plain", "full", "reflect-2", "wide"]',
    templates: str = '["reward_misspec"]',
    models: str = '["local/smollm2-135m"]',
    preset: str = "num_ideas = 4",
    extra: str = "",
) -> str:
    return f"""
name = "grid"
topics = ["reward hacking", "goal misgeneralization"]
templates = {templates}
models = {models}
variants = {variants}
n = [1, 3]
seeds = [0, 1]
{extra}
[budget]
usd = 1.5
[settings]
temperature = 0.9
[presets.wide]
{preset}
"""


GOOD = study_file()


def test_grid_expands_to_every_combination_with_stable_unique_keys() -> None:
    spec = parse_study(GOOD)
    cells = spec.cells()
    assert len(cells) == 2 * 1 * 1 * 4 * 2 * 2
    assert len({cell.key for cell in cells}) == len(cells) == len({cell.slug for cell in cells})
    assert parse_study(GOOD).cells() == cells  # same file, same keys: what resume relies on
    assert spec.budget.usd == 1.5 and spec.budget.tokens is None

    cell = CellSpec(topic="reward hacking", template="reward_misspec", model="local/smollm2-135m", variant="plain",
                    n=3, seed=1)  # fmt: skip
    overrides = spec.settings_for(cell, 2)
    assert overrides == {"temperature": 0.9, **PLAIN, "model": "local/smollm2-135m", "template": "reward_misspec",
                         "variant": "plain", "seed": SEED_STRIDE + 2 * SAMPLE_STRIDE}  # fmt: skip
    assert spec.preset("reflect-2") == {**PLAIN, "review_reflections": 2}
    assert spec.preset("full") == {} and spec.preset("wide") == {"num_ideas": 4}
    check_study(spec)  # the template and model exist, every variant gives valid Settings


@pytest.mark.parametrize(
    ("change", "named", "options"),
    [
        ({"variants": '["plain", "fancy"]'}, "'fancy'", "plain, full, novelty-off, wide"),
        ({"templates": '["no_such_template"]'}, "'no_such_template'", "reward_misspec"),
        ({"models": '["nosuchprovider/model-x"]'}, "'nosuchprovider/model-x'", "local/smollm2-135m"),
        ({"preset": "num_idea = 4"}, "'num_idea'", "num_ideas"),
        ({"preset": "seed = 4"}, "presets.wide.seed", "seeds"),
        ({"extra": "colour = 'red'"}, "'colour'", "variants"),
    ],
)
def test_bad_keys_are_one_error_naming_the_key_and_the_valid_options(
    change: dict[str, str], named: str, options: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        check_study(parse_study(study_file(**change)))
    message = str(raised.value)
    assert named in message and options in message, message


def test_cli_reports_a_bad_variant_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text(GOOD.replace('"wide"]', '"wdie"]'))
    result = run_cli("study", "run", str(path))
    assert result.returncode == 2
    assert "unknown variant 'wdie'" in result.stderr and "wide" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(SYNTHETIC_CORPUS))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    yield from serve_openai(OpenAIStub(responder=SchemaResponder(failing_models=("crashy",))))


def study_text(base_url: str, cache: Path) -> str:
    return f"""
name = "plain-vs-full"
topics = ["{FIXTURE_TOPIC}"]
templates = ["reward_misspec"]
models = ["openai/crashy", "openai/gpt-4o-mini"]  # the crashing cells come first
variants = ["plain", "full"]
n = 3
seeds = [0]
[settings]
api_base = "{base_url}"
llm_cache_dir = "{cache}"
sandbox = "{quick_sandbox()}"
{QUICK_RUNS}
[judge]
model = "openai/gpt-4o-mini"
"""


class Interrupt:
    """Ctrl-C once, when run `sample` of `variant` reaches the write node (after its experiments are checkpointed)."""

    def __init__(self, variant: str, sample: int) -> None:
        self.variant, self.sample, self.fired = variant, sample, False

    def __call__(self, cell: CellSpec, sample: int, stage: str, message: str) -> None:
        if not self.fired and cell.variant == self.variant and sample == self.sample and stage == "write":
            self.fired = True
            raise KeyboardInterrupt


def stored(db: str) -> dict[str, Any]:
    store = open_store(db)
    with store.session() as session:
        cells = {c.key: (c.variant, c.model, c.status, c.params.get("error")) for c in session.scalars(select(Cell))}
        runs = [(r.id, r.cell_id, r.sample_index, r.status, r.variant, r.total_tokens) for r in session.scalars(
            select(Run).order_by(Run.cell_id, Run.sample_index))]  # fmt: skip
        query = select(Score.run_id, Score.value).where(Score.metric == "overall")
        scores = {run_id: value for run_id, value in session.execute(query)}
        studies = list(session.scalars(select(Study.name)))
        variant_of = {c.id: c.variant for c in session.scalars(select(Cell))}
        model_of = {c.id: c.model for c in session.scalars(select(Cell))}
    store.close()
    return {"cells": cells, "runs": runs, "scores": scores, "studies": studies, "variant_of": variant_of,
            "model_of": model_of}


@pytest.mark.slow
def test_study_runs_resumes_records_a_crashing_cell_and_reports(llm: OpenAIStub, tmp_path: Path) -> None:
    spec = parse_study(study_text(llm.base_url, tmp_path / "llm-cache"))
    db = str(tmp_path / "study.sqlite")
    runs_root = tmp_path / "runs"
    store = open_store(db)
    interrupt = Interrupt("full", 1)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, store, runs_root, progress=interrupt)
    assert interrupt.fired
    first = stored(db)
    statuses = {(variant, model): status for variant, model, status, _ in first["cells"].values()}
    assert statuses == {
        ("plain", "openai/gpt-4o-mini"): "completed",
        ("plain", "openai/crashy"): "failed",  # crashed, recorded, and the study went on
        ("full", "openai/gpt-4o-mini"): "interrupted",
        ("full", "openai/crashy"): "failed",
    }
    crashed = [error for _, model, _, error in first["cells"].values() if model == "openai/crashy"]
    assert all(error and error.startswith("run 0: ") and "; run 2: " in error for error in crashed), crashed
    interrupted_run = next(
        run for run in first["runs"]
        if first["variant_of"][run[1]] == "full" and first["model_of"][run[1]] == "openai/gpt-4o-mini" and run[2] == 1
    )  # fmt: skip
    assert interrupted_run[3] == "paused"

    result = run_study(spec, store, runs_root)  # `study run` again
    store.close()
    assert [cell.status for cell in result.cells] == ["failed", "failed", "completed", "completed"]
    final = stored(db)
    assert final["studies"] == ["plain-vs-full"] and len(final["cells"]) == 4  # no duplicate cells
    ok_runs = [run for run in final["runs"] if run[3] == "completed"]
    assert sorted((final["variant_of"][r[1]], r[2]) for r in ok_runs) == [
        ("full", 0), ("full", 1), ("full", 2), ("plain", 0), ("plain", 1), ("plain", 2),
    ]  # fmt: skip
    # + three failed runs per crashing cell (each sample tried); not retried. Seen once at 11 on a heavily loaded
    # machine (2026-12-06, not reproduced in 5 runs): a sample whose start failed before its run folder existed is an
    # error line without a run row (study/execute.py); the cells' errors say which.
    assert len(final["runs"]) == 12, (final["runs"], final["cells"])
    assert interrupted_run[0] in {run[0] for run in ok_runs}  # resumed, not started again
    folders = list(runs_root.glob("studies/*/*/sample-*/*/run.json"))
    assert len(folders) == 12
    resumed = runs_root.glob(f"studies/*/*/sample-1/{interrupted_run[0]}/audit.jsonl")
    assert '"run_resume"' in next(resumed).read_text()
    for run_dir in (path.parent for path in folders):
        config = json.loads((run_dir / "config.json").read_text())
        assert config["variant"] in ("plain", "full")
        assert config["num_ideas"] == (1 if config["variant"] == "plain" else 2)
        assert config["seed"] % SAMPLE_STRIDE == 0

    # a spent [budget] starts no further run: a new cell stays pending, raising the cap continues the study
    over = study_text(llm.base_url, tmp_path / "llm-cache").replace('"full"]', '"full", "reflect-1"]')
    over = over.replace("[settings]", "[budget]\ntokens = 1\n[settings]")
    store = open_store(db)
    with pytest.raises(StudyBudgetError) as raised:
        run_study(parse_study(over), store, runs_root, amend=True)  # a new variant: an amendment
    store.close()
    assert "has spent its budget" in raised.value.message and "tokens" in raised.value.message
    assert len(list(runs_root.glob("studies/*/*/sample-*/*/run.json"))) == 12
    added = [status for variant, _, status, _ in stored(db)["cells"].values() if variant == "reflect-1"]
    assert added == ["pending", "pending"]

    # the report's numbers are measure.stats on the stored scores and tokens; every run is in its variant's pool,
    # the crashed ones at the form's minimum (failures counted, not dropped)
    store = open_store(db)
    report = build_report(store, "plain-vs-full", score="self")
    judged = build_report(store, "plain-vs-full")
    with store.session() as session:
        verdicts = dict(session.execute(select(Judgement.run_id, Judgement.overall)).all())
    store.close()
    assert set(verdicts) == {run[0] for run in ok_runs} and None not in verdicts.values()  # the judge pass ran
    by_variant = {v.variant: v for v in report.variants}
    assert set(by_variant) == {"plain", "full"}
    for variant, summary in by_variant.items():
        mine = [r for r in ok_runs if final["variant_of"][r[1]] == variant and r[0] in final["scores"]]
        scores = [final["scores"][r[0]] for r in mine]
        assert len(scores) == 3 and summary.success_scores == scores
        assert summary.scores == [1.0] * 3 + scores  # the crashy cell comes first
        assert (summary.successes, summary.failures, summary.success_rate) == (3, 3, 0.5)
        assert summary.curve == best_of_k_curve([1.0] * 3 + scores, seed=0)
        assert summary.success_curve == best_of_k_curve(scores, seed=0)
        assert summary.fit == fit_log_k(list(range(1, 7)), [p.mean for p in summary.curve])
        crashed = [r for r in final["runs"] if final["variant_of"][r[1]] == variant and r[3] != "completed"]
        assert summary.mean_tokens == pytest.approx(sum(r[5] for r in mine + crashed) / 6)
        judge_pool = next(v for v in judged.variants if v.variant == variant)
        assert judge_pool.success_scores == [verdicts[r[0]] for r in mine]
    assert by_variant["full"].mean_tokens > by_variant["plain"].mean_tokens > 0
    (matched,) = report.matched
    plain, full = by_variant["plain"], by_variant["full"]
    for row in matched.rows:
        plain_k = max(1, math.floor(row.k * full.mean_tokens / plain.mean_tokens + 1e-9))
        assert row.plain_k == plain_k and row.budget_tokens == pytest.approx(row.k * full.mean_tokens)
        if plain_k <= 6:
            assert row.plain_quality == plain.curve[plain_k - 1].mean
            assert row.difference == pytest.approx(full.curve[row.k - 1].mean - plain.curve[plain_k - 1].mean)
        else:
            assert row.plain_quality is None and f"best-of-{plain_k}" in row.note
    (paired,) = report.paired  # full vs plain on the same seeds: sample i of both variants shares its model seed
    assert paired.pairs == 6 and paired.comparison == compare_paired(full.scores, plain.scores)
    assert report.cell_status == {"completed": 2, "failed": 2, "pending": 2}
    assert "no scored run yet for: reflect-1" in report.notes

    # the CLI: status and report (Markdown + plots + HTML)
    status = run_cli("study", "status", "plain-vs-full", "--db", db, env={"COLUMNS": "250"})
    assert status.returncode == 0, status.stderr
    assert "failed" in status.stdout and "completed" in status.stdout and "3/3" in status.stdout
    out, page = tmp_path / "report", tmp_path / "report.html"
    result = run_cli("study", "report", "plain-vs-full", "--db", db, "--out", str(out), "--html", str(page),
                     "--score", "self")  # fmt: skip
    assert result.returncode == 0, result.stderr
    markdown = (out / "report.md").read_text()
    assert "## plain" in markdown and "## full vs plain best-of-n at the same token budget" in markdown
    assert "## Paired comparisons with plain" in markdown
    assert f"| 1 | {plain.curve[0].mean:.3f} |" in markdown
    for name in ("quality_vs_k", "score_distribution", "cost_vs_quality"):
        assert (out / f"{name}.png").stat().st_size > 1000 and f"({name}.png)" in markdown
    html = page.read_text()
    assert html.count("<svg") == 3 and "<table>" in html and "plain-vs-full" in html


@pytest.mark.slow
@pytest.mark.slow
def test_max_failures_stops_the_study_once_too_many_cells_failed(llm: OpenAIStub, tmp_path: Path) -> None:
    """A model that fails every run (a broken key, a dead server) should not get to spend on every cell."""
    path = tmp_path / "study.toml"
    path.write_text(study_text(llm.base_url, tmp_path / "llm-cache").replace("n = 3", "n = 1"))
    db = str(tmp_path / "study.sqlite")
    args = ["study", "run", str(path), "--db", db, "--runs-dir", str(tmp_path / "runs")]
    refused = run_cli(*args, "--max-failures", "lots")
    assert refused.returncode == 2 and "--max-failures 'lots' is neither a count nor a fraction" in refused.stderr
    assert not Path(db).exists() or not stored(db)["cells"]  # refused before the study was recorded

    stopped = run_cli(*args, "--max-failures", "0")
    assert stopped.returncode == 1, stopped.stderr
    said = " ".join(stopped.stderr.split())
    assert "1 of the 4 cells this `study run` started failed (--max-failures 0)" in said, said
    assert "Traceback" not in stopped.stderr and "--retry-failed" in said
    cells = stored(db)["cells"].values()
    assert sorted((model, status) for _, model, status, _ in cells) == [
        ("openai/crashy", "failed"), ("openai/crashy", "pending"),
        ("openai/gpt-4o-mini", "pending"), ("openai/gpt-4o-mini", "pending"),
    ]  # fmt: skip


def _answers_ctrl_c() -> None:
    """In the child before exec: SIGINT handled and unblocked. A process inherits an ignored or blocked SIGINT from
    whatever started it (Python then installs no KeyboardInterrupt handler); a terminal's Ctrl-C assumes neither."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.parametrize("backend", ["pipeline", "local"])
def test_ctrl_c_in_the_cli_then_study_run_again_resumes_without_duplicates(
    llm: OpenAIStub, tmp_path: Path, backend: str
) -> None:
    # The SIGINT is sent at the sandbox run's start. On bubblewrap that is while Python forks the bwrap process,
    # where it used to be raised in an at-fork callback and dropped by CPython ("Exception ignored in
    # _releaseLock"): the study went on. Both backends: the pipeline's (Docker in CI) and local.
    sandbox = chosen_sandbox() if backend == "pipeline" else "local"
    if backend == "pipeline" and sandbox == "local":
        pytest.skip("the pipeline's sandbox is local on this machine: the [local] case is the same test")
    text = study_text(llm.base_url, tmp_path / "llm-cache")
    text = text.replace(f'sandbox = "{quick_sandbox()}"', f'sandbox = "{sandbox}"')
    text = text.replace('["openai/crashy", "openai/gpt-4o-mini"]', '["openai/gpt-4o-mini"]')
    path = tmp_path / "study.toml"
    path.write_text(text.replace('["plain", "full"]', '["plain"]').replace("n = 3", "n = 2"))
    db, runs_root = str(tmp_path / "study.sqlite"), tmp_path / "runs"
    args = ["study", "run", str(path), "--db", db, "--runs-dir", str(runs_root)]
    process = subprocess.Popen([*SCIENTIST, *args], env=dict(os.environ), start_new_session=True,
                               preexec_fn=_answers_ctrl_c, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    deadline, interrupted = time.monotonic() + 600, False
    while time.monotonic() < deadline and process.poll() is None:
        logs = list(runs_root.glob("studies/*/*/sample-1/*/audit.jsonl"))
        if logs and '"sandbox_run_start"' in logs[0].read_text():
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground group
            interrupted = True
            break
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=120)
    assert interrupted, "the study ended before its second run reached the experiment"
    assert process.returncode == 130, (process.returncode, stderr, stdout)
    assert "study run" in stderr and "Traceback" not in stderr
    (cell,) = stored(db)["cells"].values()
    assert cell[2] == "interrupted"

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr + again.stdout
    final = stored(db)
    assert len(final["cells"]) == 1 and [run[2:4] for run in final["runs"]] == [(0, "completed"), (1, "completed")]
    folders = sorted(runs_root.glob("studies/*/*/sample-*/*/audit.jsonl"))
    assert len(folders) == 2 and '"run_resume"' in folders[1].read_text()
    assert '"run_resume"' not in folders[0].read_text()  # the finished run was kept, not run again
