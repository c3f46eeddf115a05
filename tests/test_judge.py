"""The judge (issue 20): a fixed, independent reviewer of finished papers; studies scored by it, failures counted.

Runs are written by hand (tests/judge_support.py) so each test takes seconds; the judge itself is the real code
path (gateway, litellm, structured output, audit) against the loopback OpenAI stub answering with each paper's
scripted quality. The study machinery is the real one too (record_study, link_run, build_report, the CLI).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from scientist.audit.log import verify
from scientist.config import load_settings
from scientist.errors import ConfigError
from scientist.measure.stats import best_of_k_curve
from scientist.store import open_store
from scientist.store.importer import import_run
from scientist.store.models import Judgement, Score
from scientist.study.execute import judge_study, link_run, record_study, study_judge
from scientist.study.report import build_report
from scientist.study.spec import parse_study
from tests.conftest import SCIENTIST, run_cli
from tests.judge_support import JUDGE_MODEL, ScriptedJudge, judge_config, make_run
from tests.openai_stub import OpenAIStub
from tests.openai_stub import serve as serve_openai


@pytest.fixture
def judge_llm(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> Iterator[tuple[OpenAIStub, ScriptedJudge]]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    scripted = ScriptedJudge()
    for stub in serve_openai(OpenAIStub(responder=scripted)):
        monkeypatch.setenv("SCIENTIST_CONFIG", str(judge_config(isolated_env / "scientist.toml", stub.base_url)))
        yield stub, scripted


def study_toml(variants: list[str], n: int, extra: str = "") -> str:
    return f"""
name = "judged"
topics = ["reward hacking"]
templates = ["reward_misspec"]
models = ["openai/agent-model"]
variants = {json.dumps(variants)}
n = {n}
seeds = [0]
[presets.inflate]
review_reflections = 3
[presets.flaky]
num_ideas = 3
{extra}
"""


def build_study(tmp_path: Path, text: str, runs: dict[str, list[dict[str, object]]]) -> tuple[str, object]:
    """Record the study and link hand-written runs to its cells: runs[variant][sample] = make_run arguments."""
    spec = parse_study(text)
    db = str(tmp_path / "study.sqlite")
    store = open_store(db)
    ids = record_study(store, spec)
    for cell in spec.cells():
        for sample, kwargs in enumerate(runs[cell.variant]):
            run_dir = make_run(tmp_path / "runs", f"{cell.variant}-{sample}", variant=cell.variant, **kwargs)  # type: ignore[arg-type]
            link_run(store, run_dir, ids[cell.key], sample)
    store.close()
    return db, spec


def judge_the_study(db: str, spec: object) -> None:
    from scientist.study.spec import StudySpec

    assert isinstance(spec, StudySpec)
    store = open_store(db)
    judge, settings = study_judge(spec)
    ids = record_study(store, spec, judge)
    judge_study(store, list(ids.values()), judge, settings)
    store.close()


# -- (c) the judge is the study's, never a variant's -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("[presets.inflate]\njudge = { model = 'openai/x' }", "presets.inflate.judge"),
        ("[presets.inflate]\nrole_models = { judge = 'openai/x' }", "presets.inflate.role_models.judge"),
        ("[settings]\njudge = { ensemble = 3 }", "settings.judge"),
    ],
)
def test_a_preset_or_settings_that_sets_a_judge_key_is_rejected(table: str, named: str) -> None:
    text = study_toml(["plain", "inflate"], 2).replace("[presets.inflate]\nreview_reflections = 3", "")
    with pytest.raises(ConfigError) as raised:
        parse_study(text + table)
    assert named in str(raised.value) and "[judge]" in str(raised.value)
    path = Path("study.toml")
    path.write_text(text + table)
    result = run_cli("study", "run", str(path))
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr


def test_judge_table_in_scientist_toml_and_in_a_study_file(isolated_env: Path) -> None:
    (isolated_env / "scientist.toml").write_text('[judge]\nmodel = "openai/gpt-4o"\nensemble = 3\nseed = 7\n')
    settings = load_settings()
    assert (settings.judge.model, settings.judge.ensemble, settings.judge.seed) == ("openai/gpt-4o", 3, 7)
    spec = parse_study(study_toml(["plain"], 1, "[judge]\nreflections = 2\ntemperature = 0.5\n"))
    judge, judge_env = study_judge(spec)
    # the study's [judge] keys over scientist.toml's, the rest kept; every role of the judge's calls is the judge
    assert (judge.model, judge.ensemble, judge.reflections, judge.temperature, judge.seed) == (
        "openai/gpt-4o", 3, 2, 0.5, 7)  # fmt: skip
    assert judge_env.model_for("review") == "openai/gpt-4o" and judge_env.seed == 7
    assert judge.hash != study_judge(parse_study(study_toml(["plain"], 1)))[0].hash
    (isolated_env / "scientist.toml").write_text("[judge]\nensembel = 3\n")
    with pytest.raises(ConfigError, match=r"judge\.ensembel"):
        load_settings()
    with pytest.raises(ConfigError, match=r"judge\.ensembel"):
        parse_study(study_toml(["plain"], 1, "[judge]\nensembel = 3\n"))


# -- bad judges: one clear error before anything is spent --------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ('[judge]\nmodel = "openai/judge-without-a-price"\n', {}, "no price is known for the judge model"),
        ('[models."openai/gpt-4o-mini"]\nmax_output_tokens = 256\n', {}, "cannot produce the form"),
        ('[judge]\nform_version = "neurips-1999"\n', {}, "form_version 'neurips-1999'"),
        ("", {"OPENAI_API_KEY": ""}, "OPENAI_API_KEY"),
    ],
)
def test_a_judge_that_cannot_work_stops_before_any_call(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path, config: str, env: dict[str, str], message: str
) -> None:
    stub, _ = judge_llm
    path = isolated_env / "scientist.toml"
    text = path.read_text()
    if config.startswith("[judge]"):
        text = text.replace("[judge]\n", config.replace("[judge]\n", "[judge]\n", 1)).replace(
            f'model = "{JUDGE_MODEL}"\n', "", 1 if "model =" in config else 0)  # fmt: skip
    else:
        text += config
    path.write_text(text)
    make_run(isolated_env / "runs", "r0", variant="plain", quality=5, self_overall=5)
    if env.get("OPENAI_API_KEY") == "":
        os.environ.pop("OPENAI_API_KEY")
    result = run_cli("judge", "runs", "--db", str(isolated_env / "s.sqlite"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert stub.requests == [] and not (isolated_env / "runs" / "r0" / "judge").exists()


# -- scientist judge: verdicts in the folder and the store, both kinds of score kept ----------------------------------
def test_judge_command_keeps_both_scores_audits_and_survives_reimport(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path
) -> None:
    stub, scripted = judge_llm
    runs = isolated_env / "runs"
    make_run(runs / "studies" / "s" / "cell", "good", variant="plain", quality=7, self_overall=9)
    make_run(runs, "no-form", variant="plain", quality="none", self_overall=8)  # type: ignore[arg-type]
    make_run(runs, "no-paper", variant="plain", quality=None, self_overall=None, status="stopped")
    make_run(runs, "still-going", variant="plain", quality=4, self_overall=4, status="running")
    db = str(isolated_env / "s.sqlite")
    result = run_cli("judge", "runs", "--db", db)
    assert result.returncode == 0, result.stderr
    summary = ("4 run(s): 1 judged, 0 already judged, 1 without a valid form, 1 without a paper, 0 failed runs,"
               " 1 unfinished")
    assert summary in result.stdout.replace("\n", " ")
    store = open_store(db)
    with store.session() as session:
        verdicts = {j.run_id: (j.status, j.overall, j.model) for j in session.scalars(select(Judgement))}
        own = dict(session.execute(select(Score.run_id, Score.value).where(Score.metric == "overall")).all())
    assert verdicts == {"good": ("judged", 7.0, JUDGE_MODEL), "no-form": ("failed", None, JUDGE_MODEL),
                        "no-paper": ("no_paper", None, JUDGE_MODEL)}  # fmt: skip
    assert own == {"good": 9.0, "no-form": 8.0}  # kind self, untouched by the judge (unfinished runs: not stored)
    good = runs / "studies" / "s" / "cell" / "good"
    (judge_dir,) = (good / "judge").iterdir()
    verdict = json.loads((judge_dir / "judgement.json").read_text())
    assert verdict["judge_hash"] == judge_dir.name and verdict["review"]["form"]["overall"] == 7
    assert verify(judge_dir).ok and verify(good).ok  # the judge's own chained log; the run's log is unchanged
    kinds = [json.loads(line)["kind"] for line in (judge_dir / "audit.jsonl").read_text().splitlines()]
    assert kinds[0] == "judge_start" and "llm_call" in kinds and kinds[-1] == "judge_verdict"
    assert '"judge"' not in (good / "audit.jsonl").read_text()
    import_run(store, good)  # a re-import rebuilds the run's rows from its folder: the verdict is read back
    with store.session() as session:
        assert session.scalar(select(Judgement.overall).where(Judgement.run_id == "good")) == 7.0
    store.close()
    asked = len(stub.requests)
    again = run_cli("judge", "runs", "--db", db)
    assert again.returncode == 0 and "0 judged, 3 already judged" in again.stdout.replace("\n", " ")
    assert len(stub.requests) == asked  # nothing asked twice
    other = run_cli("judge", "runs", "--db", db, "--judge-model", "openai/gpt-4o")
    assert other.returncode == 0 and "1 judged, 0 already judged" in other.stdout  # another hash: judged anew
    assert len(list((good / "judge").iterdir())) == 2 and scripted.papers.count("7") == 2

    # the leaderboard: the configured judge's verdicts by default, the runs' own reviews with --score self
    board = run_cli("leaderboard", "--db", db, env={"COLUMNS": "200"})
    assert board.returncode == 0 and "overall (judge) by model" in board.stdout and "7.000" in board.stdout
    own = run_cli("leaderboard", "--db", db, "--score", "self", env={"COLUMNS": "200"})
    assert "(self: each run's own review)" in own.stdout and "8.500" in own.stdout  # (9 + 8) / 2
    fresh = str(isolated_env / "fresh.sqlite")
    assert run_cli("store", "import", str(runs), "--db", fresh).returncode == 0
    unjudged = run_cli("leaderboard", "--db", fresh, env={"COLUMNS": "200"})
    assert "no stored run has a verdict of judge" in unjudged.stdout and "(self: each run's own review)" in (
        unjudged.stdout)  # fmt: skip


def test_a_hostile_paper_link_fails_that_run_and_is_never_read(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path, tmp_path: Path
) -> None:
    """An attacker-made run folder whose paper is a symlink to a host secret: the judge must not follow it."""
    stub, _ = judge_llm
    secret = tmp_path / "host-secret.txt"
    secret.write_text("JUDGE-QUALITY: 10 the host's private key")
    runs = isolated_env / "runs"
    evil = make_run(runs, "evil", variant="plain", quality=None, self_overall=9)
    (evil / "paper").mkdir()
    (evil / "paper" / "paper.md").symlink_to(secret)
    make_run(runs, "honest", variant="plain", quality=6, self_overall=6)
    result = run_cli("judge", str(runs), "--db", str(isolated_env / "s.sqlite"))
    assert result.returncode == 0, result.stderr
    assert "1 judged, 0 already judged, 1 without a valid form" in result.stdout.replace("\n", " ")
    verdict = json.loads(next((evil / "judge").glob("*/judgement.json")).read_text())
    assert verdict["status"] == "failed" and "symlink" in verdict["error"]
    assert all("private key" not in json.dumps(request) for request in stub.requests) and len(stub.requests) == 1
    missing = run_cli("judge", str(isolated_env / "no-such-runs"))
    assert missing.returncode == 2 and "neither a run folder nor a folder of runs" in missing.stderr


def test_a_judge_that_never_fills_the_form_stops_the_pass_instead_of_scoring_every_run_at_the_minimum(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path
) -> None:
    stub, _ = judge_llm
    runs = isolated_env / "runs"
    for index in range(5):
        make_run(runs, f"run-{index}", variant="plain", quality="none", self_overall=7)  # type: ignore[arg-type]
    result = run_cli("judge", str(runs), "--db", str(isolated_env / "s.sqlite"))
    stderr = " ".join(result.stderr.split())
    assert result.returncode == 2 and "filled no valid review form for the first 3 papers" in stderr
    assert "--judge-model" in stderr and "Traceback" not in stderr
    assert len(stub.requests) == 3 and not list(runs.glob("*/judge/*/judgement.json"))  # withdrawn, not kept
    store = open_store(str(isolated_env / "s.sqlite"))
    with store.session() as session:
        assert list(session.scalars(select(Judgement))) == []
    store.close()


def test_max_failures_stops_a_judging_pass_and_keeps_every_verdict(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path
) -> None:
    stub, _ = judge_llm
    runs = isolated_env / "runs"
    for index, quality in enumerate([5, "none", "none", 6]):  # a judge that works, then cannot fill two forms
        make_run(runs, f"run-{index}", variant="plain", quality=quality, self_overall=7)  # type: ignore[arg-type]
    db = str(isolated_env / "s.sqlite")
    result = run_cli("judge", str(runs), "--db", db, "--max-failures", "1")
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said
    assert "2 of the 4 papers this pass judges got no valid form" in said and "(--max-failures 1)" in said
    assert "Traceback" not in said and len(stub.requests) == 3  # run-3 was never asked for
    verdicts = {path.parents[2].name: json.loads(path.read_text())["status"]
                for path in runs.glob("*/judge/*/judgement.json")}  # fmt: skip
    assert verdicts == {"run-0": "judged", "run-1": "failed", "run-2": "failed"}  # kept, and in the store
    store = open_store(db)
    with store.session() as session:
        assert sorted(session.scalars(select(Judgement.run_id))) == ["run-0", "run-1", "run-2"]
    store.close()
    again = run_cli("judge", str(runs), "--db", db, "--max-failures", "1")  # continues with the run not judged yet
    assert again.returncode == 0, again.stderr
    assert "1 judged, 3 already judged" in again.stdout.replace("\n", " ") and len(stub.requests) == 4


def test_retry_failed_asks_only_the_failed_papers_again_and_reseed_moves_the_judges_seed(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path
) -> None:
    """Issue 29: a failed verdict is a result (kept on resume); --retry-failed re-asks only those papers, --reseed
    with the judge's seed moved past the earlier attempts; the settings hash (the judge's identity) stays."""
    stub, scripted = judge_llm
    runs = isolated_env / "runs"
    for index, quality in enumerate([5, 6]):
        make_run(runs, f"run-{index}", variant="plain", quality=quality, self_overall=7)
    db = str(isolated_env / "s.sqlite")
    scripted.refused = {"6"}
    first = run_cli("judge", str(runs), "--db", db)
    assert first.returncode == 0 and "1 judged, 0 already judged, 1 without a valid form" in first.stdout
    again = run_cli("judge", str(runs), "--db", db)
    assert "0 judged, 2 already judged" in again.stdout.replace("\n", " ") and len(stub.requests) == 2

    def verdict() -> dict[str, object]:
        (path,) = runs.glob("run-1/judge/*/judgement.json")
        return dict(json.loads(path.read_text()))

    retried = run_cli("judge", str(runs), "--db", db, "--retry-failed")  # the same seeded question: fails again
    assert retried.returncode == 0 and "0 judged, 1 already judged, 1 without a valid form" in retried.stdout
    assert len(stub.requests) == 3 and scripted.papers[-1] == "6"  # only the failed paper was asked again
    assert (verdict()["status"], verdict()["attempts"], verdict()["seed_offset"]) == ("failed", 2, 0)
    seeds_before = {request["seed"] for request in stub.requests}
    scripted.refused = set()
    reseeded = run_cli("judge", str(runs), "--db", db, "--retry-failed", "--reseed")
    assert reseeded.returncode == 0 and "1 judged, 1 already judged" in reseeded.stdout.replace("\n", " ")
    assert (verdict()["status"], verdict()["attempts"], verdict()["seed_offset"]) == ("judged", 3, 2000)
    assert stub.requests[-1]["seed"] == min(seeds_before) + 2000  # the judge's seed (0) past both earlier tries
    (judge_dir,) = (runs / "run-1" / "judge").iterdir()
    assert verify(judge_dir).ok and len(list((runs / "run-0" / "judge").iterdir())) == 1  # one judge identity
    attempts = [json.loads(line)["payload"].get("attempt") for line in (judge_dir / "audit.jsonl").read_text()
                .splitlines() if json.loads(line)["kind"] == "judge_start"]  # fmt: skip
    assert attempts == [1, 2, 3]
    store = open_store(db)
    with store.session() as session:
        rows = {j.run_id: (j.status, j.overall, j.attempts) for j in session.scalars(select(Judgement))}
    store.close()
    assert rows == {"run-0": ("judged", 5.0, 1), "run-1": ("judged", 6.0, 3)}
    assert run_cli("judge", str(runs), "--reseed").returncode == 0  # --reseed alone: nothing to retry, no error


def test_judge_repair_retries_is_an_option_of_the_command(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path
) -> None:
    """The failure hint names --repair-retries; the config says 0 repairs, the option asks once more."""
    stub, scripted = judge_llm
    make_run(isolated_env / "runs", "run-0", variant="plain", quality=6, self_overall=7)
    scripted.refused = {"6"}
    result = run_cli("judge", str(isolated_env / "runs"), "--repair-retries", "1")
    assert result.returncode == 0 and "1 without a valid form" in result.stdout, result.stderr
    assert len(stub.requests) == 2  # the answer and one repair (the config alone: one request)


def test_a_killed_judging_pass_loses_nothing_already_judged(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], isolated_env: Path
) -> None:
    stub, _ = judge_llm
    slow = stub.responder
    assert slow is not None

    def delayed(request: dict[str, object]) -> object:
        reply = slow(request)  # type: ignore[arg-type]
        reply.delay_s = 0.4
        return reply

    stub.responder = delayed  # type: ignore[assignment]
    runs = isolated_env / "runs"
    for index in range(4):
        make_run(runs, f"run-{index}", variant="plain", quality=3 + index, self_overall=8)
    db = str(isolated_env / "s.sqlite")
    process = subprocess.Popen([*SCIENTIST, "judge", str(runs), "--db", db], env=dict(os.environ),
                               start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(runs.glob("*/judge/*/judgement.json")):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    done = {path.parent.parent.parent.name: path.read_bytes() for path in runs.glob("*/judge/*/judgement.json")}
    assert 1 <= len(done) < 4, "the pass should be killed part-way"
    asked = len(stub.requests)
    stub.responder = slow
    result = run_cli("judge", str(runs), "--db", db)
    assert result.returncode == 0, result.stderr
    assert f"{4 - len(done)} judged, {len(done)} already judged" in result.stdout.replace("\n", " ")
    assert len(stub.requests) - asked == 4 - len(done)  # one call per run not judged before, none for the others
    for name, content in done.items():
        assert (next((runs / name / "judge").iterdir()) / "judgement.json").read_bytes() == content
    store = open_store(db)
    with store.session() as session:
        overall = dict(session.execute(select(Judgement.run_id, Judgement.overall)).all())
    store.close()
    assert overall == {f"run-{i}": 3.0 + i for i in range(4)}


# -- (a) inflated self-review: no gain under the judge, a large self-grading gap ---------------------------------------
def test_a_scaffold_that_inflates_its_own_review_shows_no_gain_and_a_large_gap(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], tmp_path: Path
) -> None:
    qualities = [3, 5, 4, 6]  # what the papers are worth, the same for both variants sample by sample
    runs = {
        "plain": [{"quality": q, "self_overall": q} for q in qualities],
        "inflate": [{"quality": q, "self_overall": 9 + i % 2, "cost_usd": 0.02} for i, q in enumerate(qualities)],
    }  # the same tokens per run; inflate pays twice plain's price per run (its extra reflections)
    db, spec = build_study(tmp_path, study_toml(["plain", "inflate"], 4), runs)
    judge_the_study(db, spec)
    store = open_store(db)
    judged = build_report(store, "judged")
    own = build_report(store, "judged", score="self")
    store.close()
    by_judge = {v.variant: v for v in judged.variants}
    assert by_judge["plain"].scores == by_judge["inflate"].scores == [3.0, 5.0, 4.0, 6.0]
    (paired,) = judged.paired
    assert paired.comparison is not None and paired.comparison.mean_diff == 0 and paired.comparison.p_value == 1
    assert all(row.difference == 0 for row in judged.matched[0].rows if row.difference is not None)
    # (e) compute matching on each axis from the recorded costs: at inflate's dollars plain affords twice the runs
    (dollars,) = judged.matched_usd
    assert (dollars.axis, dollars.mean_tokens, dollars.plain_mean_tokens) == ("usd", 0.02, 0.01)
    assert [(row.k, row.plain_k) for row in dollars.rows] == [(1, 2), (2, 4), (3, 6), (4, 8)]
    plain_curve = by_judge["plain"].curve
    assert dollars.rows[0].plain_quality == plain_curve[1].mean and dollars.rows[1].plain_quality == plain_curve[3].mean
    assert dollars.rows[0].difference == pytest.approx(by_judge["inflate"].curve[0].mean - plain_curve[1].mean)
    assert dollars.rows[2].plain_quality is None and "needs plain best-of-6" in dollars.rows[2].note
    assert [(row.k, row.plain_k) for row in judged.matched[0].rows] == [(1, 1), (2, 2), (3, 3), (4, 4)]  # tokens
    (paired_self,) = own.paired  # what the study would have claimed from the runs' own reviews
    assert paired_self.comparison is not None and paired_self.comparison.mean_diff == pytest.approx(5.0)
    gaps = {g.variant: g for g in judged.gaps}
    assert gaps["plain"].comparison is not None and gaps["plain"].comparison.mean_diff == 0
    inflated = gaps["inflate"].comparison
    assert inflated is not None and inflated.mean_diff == pytest.approx(5.0) and inflated.ci_low > 4
    out = tmp_path / "report"
    result = run_cli("study", "report", "judged", "--db", db, "--out", str(out))
    assert result.returncode == 0, result.stderr
    markdown = (out / "report.md").read_text()
    assert f"the judge's `overall` score ({JUDGE_MODEL} (settings " in markdown
    assert "## inflate vs plain best-of-n at the same dollar budget" in markdown and "| 1 | $0.0200 |" in markdown
    assert "## Self-grading gap" in markdown and "| openai/agent-model | inflate | 4 | 9.500 | 4.500 | 5.000 |" in (
        markdown)  # fmt: skip
    self_out = tmp_path / "self"
    assert run_cli("study", "report", "judged", "--db", db, "--out", str(self_out), "--score", "self").returncode == 0
    assert "own review's `overall` score (self-grading)" in (self_out / "report.md").read_text()


# -- (b) failures counted: success rate beside the curve over successes ------------------------------------------------
def test_a_half_failing_scaffold_is_reported_with_its_success_rate_and_failures_lower_its_curve(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], tmp_path: Path
) -> None:
    runs = {
        "plain": [{"quality": 5, "self_overall": 5} for _ in range(4)],
        "flaky": [
            {"quality": 8, "self_overall": 8},
            {"quality": None, "self_overall": None, "status": "failed"},  # crashed: no paper, no review
            {"quality": 8, "self_overall": 8},
            {"quality": "none", "self_overall": 8},  # a paper the judge could not score
        ],
    }
    db, spec = build_study(tmp_path, study_toml(["plain", "flaky"], 4), runs)
    judge_the_study(db, spec)
    store = open_store(db)
    report = build_report(store, "judged")
    lenient = build_report(store, "judged", failed_score=4.0)
    store.close()
    flaky = next(v for v in report.variants if v.variant == "flaky")
    assert (flaky.successes, flaky.failures, flaky.pending, flaky.success_rate) == (2, 2, 0, 0.5)
    assert flaky.scores == [8.0, 1.0, 8.0, 1.0]  # every run in the pool, failures at the form's minimum
    assert flaky.success_scores == [8.0, 8.0]
    assert flaky.curve == best_of_k_curve([8.0, 1.0, 8.0, 1.0], seed=0)
    assert flaky.curve[0].mean == 4.5 and flaky.success_curve[0].mean == 8.0  # counting failures lowers it
    assert [p.k for p in flaky.success_curve] == [1, 2]  # no best-of-3 or 4 from 2 successes
    assert next(v for v in lenient.variants if v.variant == "flaky").scores == [8.0, 4.0, 8.0, 4.0]
    cell = next(c for c in report.cells if c.variant == "flaky")
    assert cell.best_of_n is None and "only 2 of 4 runs scored" in cell.note
    plain_cell = next(c for c in report.cells if c.variant == "plain")
    assert plain_cell.success_rate == 1.0 and plain_cell.best_of_n == 5.0
    assert "2 failed or unscored run(s) count as 1 (failed_score)" in report.notes
    out = tmp_path / "report"
    assert run_cli("study", "report", "judged", "--db", db, "--out", str(out)).returncode == 0
    markdown = (out / "report.md").read_text()
    assert "2 scored, 2 failed or unscored, 0 pending of 4 runs (success rate 50%)" in markdown
    assert "| 1 | 4.500 |" in markdown and "| 3 |" in markdown and "only 2 scored runs |" in markdown
    assert "## Success rate per cell" in markdown and "only 2 of 4 runs scored" in markdown


def test_finished_runs_not_judged_yet_are_pending_not_failed(tmp_path: Path) -> None:
    runs = {"plain": [{"quality": 5, "self_overall": 5}, {"quality": 6, "self_overall": 6}]}
    db, _ = build_study(tmp_path, study_toml(["plain"], 2), runs)
    store = open_store(db)
    report = build_report(store, "judged")
    store.close()
    assert report.variants == [] and any("no judge yet" in note for note in report.notes)
    assert any("2 finished run(s) not judged yet" in note for note in report.notes)


# -- (d) pre-registration: frozen before the first run, a change stops the study, --amend records it ----------------
def test_a_changed_study_stops_with_the_preregistration_error_and_amend_records_it(
    judge_llm: tuple[OpenAIStub, ScriptedJudge], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.study import prereg
    from tests.conftest import quick_sandbox
    from tests.openai_stub import ScriptedReply

    stub, scripted = judge_llm
    stub.responder = lambda request: ScriptedReply(status=400) if request.get("model") == "crashy" else scripted(
        request)  # fmt: skip
    text = f"""
name = "registered"
topics = ["reward hacking"]
templates = ["reward_misspec"]
models = ["openai/crashy"]  # its runs fail at their first call: the test is about the study, not the runs
variants = ["plain", "full"]
n = 1
[settings]
api_base = "{stub.base_url}"
sandbox = "{quick_sandbox()}"
transient_retries = 0
[hypotheses.full-beats-plain]
variant = "full"
direction = "greater"
[budget]
usd = 1.0
"""
    study, db, runs = tmp_path / "study.toml", str(tmp_path / "s.sqlite"), tmp_path / "runs"
    study.write_text(text)
    args = ["study", "run", str(study), "--db", db, "--runs-dir", str(runs)]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr + first.stdout
    record = json.loads((runs / "studies" / "registered" / "preregistration.json").read_text())
    assert record["frozen"]["hypotheses"] == {"full-beats-plain": {"variant": "full", "baseline": "plain",
                                                                   "direction": "greater", "note": ""}}  # fmt: skip
    assert record["frozen"]["judge"]["model"] == JUDGE_MODEL and record["frozen"]["code"]["package"]
    assert verify(runs / "studies" / "registered").ok
    folders = sorted(runs.rglob("run.json"))

    study.write_text(text.replace("usd = 1.0", "usd = 2.0"))  # a budget is not part of the design
    assert run_cli(*args).returncode == 0
    study.write_text(text.replace("n = 1", "n = 2"))
    changed = run_cli(*args)
    assert changed.returncode == 2 and "changed since it was pre-registered" in changed.stderr
    assert "the study file (n)" in changed.stderr and "--amend" in changed.stderr and "Traceback" not in changed.stderr
    assert sorted(runs.rglob("run.json")) == folders  # stopped before any run
    study.write_text(text)
    (tmp_path / "judge.toml").write_text(Path(os.environ["SCIENTIST_CONFIG"]).read_text() + "seed = 3\n")
    judge_changed = run_cli(*args, env={"SCIENTIST_CONFIG": str(tmp_path / "judge.toml")})
    assert judge_changed.returncode == 2 and "the judge settings (seed;" in judge_changed.stderr
    assert "the study file" not in judge_changed.stderr

    study.write_text(text.replace("n = 1", "n = 2"))
    amended = run_cli(*args, "--amend")
    assert amended.returncode == 0, amended.stderr
    assert len(sorted(runs.rglob("run.json"))) == len(folders) + 4  # the amended design ran (two cells of n = 2)
    monkeypatch.setattr(prereg, "code_version", lambda: prereg.CodeVersion(package="0.0.0", git_commit="f" * 40))
    with pytest.raises(prereg.PreregistrationError, match="the code version"):
        from scientist.study.execute import run_study

        store = open_store(db)
        try:
            run_study(parse_study(text.replace("n = 1", "n = 2")), store, runs)
        finally:
            store.close()
    out = tmp_path / "report"
    assert run_cli("study", "report", "registered", "--db", db, "--out", str(out), "--score", "self").returncode == 0
    markdown = (out / "report.md").read_text()
    assert "Pre-registered " in markdown and "1 amendment(s) since:" in markdown and "the study file (n)" in markdown
    # every run failed: both variants sit at the form's minimum, so the hypothesis has an estimate of 0
    assert "| full-beats-plain | full - plain | greater | 3 | 0.000 | [0.000, 0.000] | 1 | not supported |" in (
        markdown)  # fmt: skip
