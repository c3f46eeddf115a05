"""The per-component table of a study report: each `<base>+C` / `<base>-C` variant's one run against the best-of-k'
of the variant without C at the same tokens, CIs from measure.stats; and the components study file it is for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scientist.measure.stats import best_of_k_curve, bootstrap_difference_of_max, expected_max_of_k
from scientist.study.check import check_study
from scientist.study.render import markdown
from scientist.study.report import (
    StoredRun,
    StudyReport,
    VariantReport,
    component_pairs,
    component_rows,
    compute_matched,
    variant_report,
)
from scientist.study.spec import OPT_IN_COMPONENTS, PLAIN, load_study
from tests.stub_study import pin_settings

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "docs" / "studies" / "components.toml"


def pool(variant: str, scores: list[float], tokens: int) -> VariantReport:
    runs = [
        StoredRun(run_id=f"{variant}-{i}", variant=variant, cell_key=variant, pair_key=str(i), sample_index=i,
                  status="completed", total_tokens=tokens, cost_usd=0.0, score=score)
        for i, score in enumerate(scores)
    ]  # fmt: skip
    report = variant_report(variant, runs)
    assert report is not None
    return report


def test_the_difference_ci_is_the_order_statistic_estimate_with_a_bootstrap_interval() -> None:
    a, b = [6.0, 7.0, 8.0, 7.0, 9.0, 6.0], [2.0, 3.0, 5.0, 4.0, 3.0, 2.0, 4.0, 3.0]
    estimate, low, high = bootstrap_difference_of_max(a, 1, b, 3, seed=1)
    assert estimate == pytest.approx(expected_max_of_k(a, 1) - expected_max_of_k(b, 3))
    assert 0 < low < estimate < high  # a clearly better pool: the interval excludes 0
    same = bootstrap_difference_of_max([5.0] * 4, 1, [5.0] * 4, 2)
    assert same == (0.0, 0.0, 0.0)  # no spread on either side: no sampling error
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):  # equal distributions: the 95% interval covers the true difference 0 most times
        x, y = rng.normal(5, 1, 30), rng.normal(5, 1, 30)
        _, lo, hi = bootstrap_difference_of_max(x, 1, y, 1, n_resamples=400, seed=trial)
        covered += lo <= 0 <= hi
    assert covered >= 180


def test_components_are_read_from_the_variant_names_add_one_and_drop_one() -> None:
    names = ["plain", "plain+tournament", "plain-retrieval", "full", "full-novelty", "full-review-reflection", "x+y"]
    assert component_pairs(names) == [
        ("tournament", "add", "plain+tournament", "plain"),
        ("retrieval", "drop", "plain", "plain-retrieval"),
        ("novelty", "drop", "full", "full-novelty"),
        ("review-reflection", "drop", "full", "full-review-reflection"),
    ]  # "x+y" has no base variant in the study: no row


def test_each_row_is_one_run_with_the_component_against_the_matched_best_of_k_without_it() -> None:
    plain = pool("plain", [2.0, 3.0, 5.0, 4.0, 3.0, 2.0, 4.0, 3.0], tokens=1000)
    tournament = pool("plain+tournament", [6.0, 4.0, 5.0, 7.0], tokens=3500)  # 3.5x plain: best-of-3 matches it
    full = pool("full", [5.0, 6.0, 4.0, 6.0], tokens=2000)
    no_novelty = pool("full-novelty", [5.0, 4.0], tokens=900)  # full's tokens buy best-of-2 of it: its whole pool
    expensive = pool("plain+reflection", [9.0, 8.0], tokens=20_000)  # needs plain best-of-20: more than its pool
    rows = {row.component: row for row in component_rows([plain, tournament, full, no_novelty, expensive])}
    assert list(rows) == ["tournament", "novelty", "reflection"]

    add = rows["tournament"]
    assert (add.test, add.with_variant, add.without_variant, add.matched_k) == ("add", "plain+tournament", "plain", 3)
    one, three = best_of_k_curve(tournament.scores)[0], best_of_k_curve(plain.scores)[2]
    assert (add.quality, add.ci_low, add.ci_high) == (one.mean, one.ci_low, one.ci_high)
    assert (add.matched_quality, add.matched_ci_low, add.matched_ci_high) == (three.mean, three.ci_low, three.ci_high)
    assert add.effect == pytest.approx(one.mean - three.mean)
    _, low, high = bootstrap_difference_of_max(tournament.scores, 1, plain.scores, 3)
    assert (add.effect_ci_low, add.effect_ci_high) == (low, high)
    assert compute_matched(tournament, plain).rows[0].plain_k == add.matched_k  # the report's own matching

    drop = rows["novelty"]
    assert (drop.test, drop.with_variant, drop.without_variant, drop.matched_k) == ("drop", "full", "full-novelty", 2)
    assert drop.effect == pytest.approx(np.mean(full.scores) - expected_max_of_k(no_novelty.scores, 2))

    short = rows["reflection"]
    assert short.matched_k == 20 and short.effect is None and short.effect_ci_low is None
    assert "plain best-of-20" in short.note and "2 scored" not in short.note

    report = StudyReport(name="components", metric="overall", cell_status={"completed": 5}, failed_cells=[],
                         runs=[], variants=[plain, tournament, full, no_novelty, expensive], matched=[], paired=[],
                         notes=[], components=list(rows.values()))  # fmt: skip
    text = markdown(report)
    table = text[text.index("## Components at matched compute") :]
    expected = (f"| tournament | add | plain+tournament | 3,500 | {one.mean:.3f} [{one.ci_low:.3f}, {one.ci_high:.3f}]"
                f" | plain | 1,000 | 3 | {three.mean:.3f} [{three.ci_low:.3f}, {three.ci_high:.3f}] |"
                f" {add.effect:.3f} | [{low:.3f}, {high:.3f}] |")  # fmt: skip
    assert expected in table, table


def test_the_components_study_file_checks_and_crosses_every_component_against_its_base() -> None:
    spec = load_study(STUDY)
    check_study(spec)  # every variant, setting and the judge valid before anything runs
    names = spec.variants
    tested = {component for component, *_ in component_pairs(names)}
    assert {"retrieval", "reflection", "tournament", "reviewer", "novelty", "ideas"} <= tested
    assert {"plain", "full"} <= set(names) and spec.n == [8]
    cell = spec.cells()[0]
    for name, overrides in OPT_IN_COMPONENTS.items():
        if f"plain+{name}" in names:  # plain with exactly that component switched on
            added = spec.settings_for(cell.model_copy(update={"variant": f"plain+{name}"}), 0)
            assert all(added[key] == value for key, value in {**PLAIN, **overrides}.items())
    rows = component_rows([pool(name, [3.0, 4.0, 5.0, 4.0], tokens=1000) for name in names])
    assert len(rows) == len(component_pairs(names)) >= 9 and all(row.effect is not None for row in rows)


@pytest.mark.slow
def test_the_components_study_runs_on_the_loopback_stub_and_reports_the_component_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/studies/components.toml on a small grid (three variants, best-of-2, one seed) with the schema-answering
    stub as agent and judge: `study run` then `study report`, whose Markdown has one row per component."""
    from tests.conftest import quick_sandbox, run_cli
    from tests.openai_stub import OpenAIStub
    from tests.openai_stub import serve as serve_openai
    from tests.schema_answers import SchemaResponder
    from tests.test_study_e2e import study_env

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    for stub in serve_openai(OpenAIStub(responder=SchemaResponder())):
        text = STUDY.read_text(encoding="utf-8")
        start, end = text.index("variants = ["), text.index("]\nn = 8\n")
        text = text[:start] + 'variants = ["plain", "plain+reflection", "plain-retrieval"' + text[end:]
        text = text.replace("n = 8\n", "n = 2\n").replace("seeds = [0, 1]\n", "seeds = [0]\n")
        text = text.replace('"local/smollm2-135m"', '"openai/gpt-4o-mini"')
        text = pin_settings(text, f'api_base = "{stub.base_url}"', "max_tokens = 400")  # one seed per run too
        study = tmp_path / "components-stub.toml"
        study.write_text(text)
        db = str(tmp_path / "study.sqlite")
        env = study_env(tmp_path, tmp_path / "llm-cache", "live", quick_sandbox())
        ran = run_cli("study", "run", str(study), "--db", db, "--runs-dir", str(tmp_path / "runs"),
                      "--concurrency", "2", env=env, timeout=1800)  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-3000:] + ran.stdout[-3000:]
        assert "3 of 3 cells completed, 0 failed" in ran.stdout, ran.stdout[-3000:]
        out = tmp_path / "report"
        reported = run_cli("study", "report", "components", "--db", db, "--out", str(out), env=env)
        assert reported.returncode == 0, reported.stderr
        table = (out / "report.md").read_text().split("## Components at matched compute")[1].split("\n## ")[0]
        rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| component")]
        assert [row.split(" | ")[:3] for row in rows] == [
            ["| reflection", "add", "plain+reflection"], ["| retrieval", "drop", "plain"],
        ]  # fmt: skip
