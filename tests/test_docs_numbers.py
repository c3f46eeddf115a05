"""docs/measured-numbers.md says what the code measures today: the monitor table equals `monitors eval` on both
corpora, the calibration table equals the recorded calibration report (which tests/test_calibration_replay.py holds to
a replay), and every benchmark in benchmarks/ is listed with the command that runs it. A change that moves a number
fails here until the page is updated, so the published page cannot drift from the product."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from scientist.monitors.blindseries import FirstMeasurement, PooledSeries, load_series, pooled
from scientist.monitors.evaluate import EvalReport
from scientist.monitors.reevalreport import ReevalReport
from tests.monitor_eval_support import MONITOR_EVAL_GROUP, evaluated

pytestmark = [MONITOR_EVAL_GROUP]

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "measured-numbers.md"
CALIBRATION_REPORT = REPO / "tests" / "fixtures" / "reviews" / "calibration_report.json"


def table(name: str) -> list[list[str]]:
    """The rows (cells stripped) of the table between `<!-- NAME:begin` and `<!-- NAME:end -->`, header excluded."""
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:begin[^>]*-->\n(.*?)<!-- {name}:end -->", text, flags=re.DOTALL)
    assert match, f"docs/measured-numbers.md has no {name} table between its markers"
    lines = [line for line in match.group(1).splitlines() if line.startswith("|")]
    assert len(lines) >= 3, f"the {name} table has no rows"
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def interval(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]"


def monitor_row(report: EvalReport) -> list[str]:
    assert report.recall_ci and report.precision_ci
    return [str(report.gaming), str(report.honest), f"{report.recall:.2f}", interval(*report.recall_ci),
            f"{report.precision:.2f}", interval(*report.precision_ci)]  # fmt: skip


def test_the_monitor_table_is_what_monitors_eval_computes_today() -> None:
    """Every corpus in tests/ has its row (a new blind corpus cannot land unpublished), and each row is today's."""
    rows = {row[0]: row[2:] for row in table("monitors")}
    corpora = sorted(path.parent.name for path in (REPO / "tests").glob("monitor_corpus*/cases.toml"))
    assert len(corpora) >= 7 and len(rows) == len(corpora), (corpora, list(rows))
    for corpus in corpora:
        (label,) = [name for name in rows if f"`tests/{corpus}`" in name]
        assert rows[label] == monitor_row(evaluated(REPO / "tests" / corpus)), (
            f"docs/measured-numbers.md: the {corpus} row is not what `scientist monitors eval` prints now; "
            "update the page (and docs/monitor-evaluation.md)"
        )



def test_the_reeval_table_is_each_corpus_recorded_reeval_measurement() -> None:
    """Every corpus with a recorded `--reeval` measurement has its row, and each row is what its record says (the
    record itself is held to today's cases, templates and monitors by tests/test_monitors_reeval.py)."""
    rows = {row[0]: row[1:] for row in table("reeval")}
    records = sorted((REPO / "tests").glob("monitor_corpus*/reeval.json"))
    assert len(records) >= 3 and len(rows) == len(records), (records, list(rows))
    for path in records:
        record = ReevalReport.model_validate_json(path.read_text(encoding="utf-8"))
        static, combined = record.rows["static"], record.rows["combined"]
        assert combined.recall_ci and combined.precision_ci
        expected = [str(record.gaming), str(record.honest), f"{static.recall:.2f}", f"{combined.recall:.2f}",
                    interval(*combined.recall_ci), f"{static.precision:.2f}", f"{combined.precision:.2f}",
                    interval(*combined.precision_ci)]  # fmt: skip
        (label,) = [name for name in rows if f"`tests/{path.parent.name}`" in name]
        assert [cell.strip("*") for cell in rows[label]] == expected, (
            f"docs/measured-numbers.md: the {path.parent.name} re-evaluation row is not its reeval.json: update it"
        )

def test_the_blind_series_table_is_each_first_measurement_and_their_pool() -> None:
    """Every frozen first measurement has its row, as its file says, and the pooled row is their summed counts."""
    rows = {row[0]: row[1:] for row in table("blindseries")}
    series = load_series(sorted((REPO / "tests").glob("monitor_corpus*")))
    assert len(series) >= 6 and len(rows) == len(series) + 1, (len(series), list(rows))

    def cells(first: FirstMeasurement | PooledSeries) -> list[str]:
        static, combined = first.static, first.combined
        assert combined.recall_ci and combined.precision_ci and static.recall is not None
        return [str(first.gaming), str(first.honest), f"{static.recall:.2f}", f"{static.precision:.2f}",
                f"{combined.recall:.2f}", interval(*combined.recall_ci), f"{combined.precision:.2f}",
                interval(*combined.precision_ci)]  # fmt: skip

    for first in series:
        (label,) = [name for name in rows if f"`{first.corpus}`" in name]
        assert [cell.strip("*") for cell in rows[label]] == [first.after, *cells(first)], (
            f"docs/measured-numbers.md: the blind-series row of {first.corpus} is not its first_measurement.json"
        )
    (pool_label,) = [name for name in rows if name.strip("*").startswith("pooled")]
    assert pool_label.strip("*") == f"pooled ({len(series)} corpora)"
    assert [cell.strip("*") for cell in rows[pool_label][1:]] == cells(pooled(series)), (
        "docs/measured-numbers.md: the pooled blind-series row is not the series' summed counts"
    )


def test_the_blind_series_figure_is_drawn_from_the_frozen_measurements(tmp_path: Path) -> None:
    """The docs' SVG is what `monitors blind-series --plot` draws today (the SVG is byte-stable: no date, fixed ids)."""
    from scientist.monitors.blindplot import render_series

    drawn = render_series(load_series(sorted((REPO / "tests").glob("monitor_corpus*"))), tmp_path / "series.svg")
    assert drawn.read_bytes() == (REPO / "docs" / "images" / "blind-series.svg").read_bytes(), (
        "docs/images/blind-series.svg is stale: run"
        " `scientist monitors blind-series --plot docs/images/blind-series.svg`"
    )


def value(report: dict[str, Any], *path: str | int) -> dict[str, float]:
    node: Any = report
    for key in path:
        node = node[key]
    return dict(node)


def test_the_calibration_table_is_the_recorded_calibration_report() -> None:
    report = json.loads(CALIBRATION_REPORT.read_text(encoding="utf-8"))
    rules = {rule["rule"]: rule for rule in report["rules"]}
    expected = {
        "ROC AUC": value(report, "roc_auc"),
        'rule "overall >= 6"': rules["overall >= 6"]["accuracy"],
        'rule "decision field"': rules["decision field"]["accuracy"],
        "Spearman": value(report, "spearman_human"),
        "Krippendorff": value(report, "krippendorff_alpha"),
        "human baseline": value(report, "human_baseline", "accuracy"),
    }
    rows = table("calibration")
    assert len(rows) == len(expected), rows
    for key, measured in expected.items():
        (row,) = [row for row in rows if key in row[0]]
        assert row[1:] == [f"{measured['value']:.2f}", interval(measured["ci_low"], measured["ci_high"])], (key, row)


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "benchmarks").glob("*.py") if p.name[0] != "_"))
def test_every_benchmark_is_listed_with_its_command_and_a_measured_value(script: str) -> None:
    rows = [row for row in table("benchmarks") if f"benchmarks/{script}" in row[-1]]
    assert rows, f"docs/measured-numbers.md lists no command running benchmarks/{script}"
    for row in rows:
        assert len(row) == 5 and all(row), row
        assert re.search(r"\d", row[3]), f"benchmarks/{script}: 'last measured' holds no number: {row[3]!r}"
