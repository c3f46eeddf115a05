"""The blind series (scientist.monitors.blindseries): each frozen first measurement is the corpus's reeval.json as the
commit it names recorded it, the pool is plain summed counts with Wilson intervals, and a corpus is frozen once."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from scientist.measure.stats import wilson
from scientist.monitors.blindseries import (
    FIRST_MEASUREMENT,
    Counts,
    FirstMeasurement,
    format_series,
    freeze_record,
    load_series,
    of_rows,
    pooled,
)
from scientist.monitors.reevalreport import ScoreRow
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
FROZEN = sorted((REPO / "tests").glob(f"monitor_corpus*/{FIRST_MEASUREMENT}"))


def first(name: str, static: tuple[int, int, int], combined: tuple[int, int, int], when: str) -> FirstMeasurement:
    return FirstMeasurement(corpus=f"tests/{name}", commit="0" * 40, measured_on=when, after="a pass", gaming=10,
                            honest=10, static=Counts(tp=static[0], fp=static[1], fn=static[2]),
                            combined=Counts(tp=combined[0], fp=combined[1], fn=combined[2]))  # fmt: skip


def git_show(commit: str, path: str) -> str | None:
    shown = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:{path}"], capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def test_the_series_holds_every_blind_corpus_since_v7() -> None:
    names = [path.parent.name for path in FROZEN]
    assert {f"monitor_corpus_heldout{n}" for n in range(7, 13)} <= set(names), names
    assert "monitor_corpus_heldout6" not in names  # its misses were read before its whole-harness measurement


@pytest.mark.parametrize("path", FROZEN, ids=[path.parent.name for path in FROZEN])
def test_a_first_measurement_is_the_reeval_record_its_commit_wrote(path: Path) -> None:
    frozen = FirstMeasurement.model_validate_json(path.read_text(encoding="utf-8"))
    assert frozen.corpus == f"tests/{path.parent.name}"
    known = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{frozen.commit}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        pytest.skip(f"commit {frozen.commit[:9]} is not in this clone's history (a shallow clone)")
    recorded = git_show(frozen.commit, f"{frozen.corpus}/reeval.json")
    assert recorded is not None, f"commit {frozen.commit[:9]} has no {frozen.corpus}/reeval.json: it did not record it"
    raw = json.loads(recorded)
    rows = {name: ScoreRow.model_validate(row) for name, row in raw["rows"].items()}  # old schemas too
    about = {"corpus": frozen.corpus, "commit": frozen.commit, "measured_on": frozen.measured_on, "after": frozen.after}
    assert of_rows(rows, raw["gaming"], raw["honest"], **about) == frozen
    # and the commit was the record's first: an earlier version would mean this one was a re-measurement
    history = subprocess.run(["git", "-C", str(REPO), "log", "--format=%H", "--diff-filter=A", "--",
                              f"{frozen.corpus}/reeval.json"], capture_output=True, text=True, check=True)  # fmt: skip
    assert history.stdout.split()[-1] == frozen.commit


def test_the_pool_sums_counts_and_takes_wilson_intervals() -> None:
    series = [first("monitor_corpus_heldout9", (7, 1, 3), (8, 1, 2), "2026-12-06"),
              first("monitor_corpus_heldout10", (5, 0, 5), (9, 2, 1), "2026-12-06")]  # fmt: skip
    pool = pooled(series)
    assert pool.static == Counts(tp=12, fp=1, fn=8) and pool.combined == Counts(tp=17, fp=3, fn=3)
    assert (pool.gaming, pool.honest) == (20, 20)
    assert pool.combined.recall == 17 / 20 and pool.combined.precision == 17 / 20
    assert pool.combined.recall_ci == wilson(17, 20) and pool.static.precision_ci == wilson(12, 13)
    text = format_series(series)
    assert "pooled (2 corpora)" in text and "0.85 [0.64, 0.95]" in text
    with pytest.raises(ValueError, match="no first measurement"):
        pooled([])


def test_the_series_is_ordered_by_date_then_corpus_number(tmp_path: Path) -> None:
    for name, when in [("monitor_corpus_heldout10", "2026-12-06"), ("monitor_corpus_heldout9", "2026-12-06"),
                       ("monitor_corpus_heldout13", "2026-12-05")]:  # fmt: skip
        (tmp_path / name).mkdir()
        measurement = first(name, (1, 0, 1), (1, 0, 1), when)
        (tmp_path / name / FIRST_MEASUREMENT).write_text(measurement.model_dump_json(), encoding="utf-8")
    (tmp_path / "monitor_corpus_heldout11").mkdir()  # no first measurement: not part of the series
    found = load_series(sorted(tmp_path.iterdir()))
    assert [Path(m.corpus).name for m in found] == [
        "monitor_corpus_heldout13", "monitor_corpus_heldout9", "monitor_corpus_heldout10"]  # fmt: skip


def test_a_corpus_is_frozen_once(tmp_path: Path) -> None:
    corpus = tmp_path / "monitor_corpus_heldout99"
    corpus.mkdir()
    with pytest.raises(FileNotFoundError, match="monitors eval --reeval"):
        freeze_record(corpus, commit="c" * 40, measured_on="2026-12-06", after="a pass")
    shutil.copy(REPO / "tests" / "monitor_corpus_heldout12" / "reeval.json", corpus / "reeval.json")
    frozen = freeze_record(corpus, commit="c" * 40, measured_on="2026-12-06", after="a pass")
    record = json.loads((corpus / "reeval.json").read_text(encoding="utf-8"))
    assert frozen.combined.tp == record["rows"]["combined"]["tp"] and frozen.gaming == record["gaming"]
    assert load_series([corpus]) == [frozen]
    with pytest.raises(FileExistsError, match="recorded once"):
        freeze_record(corpus, commit="d" * 40, measured_on="2026-12-07", after="another pass")
    assert load_series([corpus]) == [frozen]  # the first stands


def test_cli_prints_the_series_and_refuses_a_second_freeze(isolated_env: Path) -> None:
    shown = run_cli("monitors", "blind-series")
    assert shown.returncode == 0, shown.stderr
    assert "monitor_corpus_heldout12" in shown.stdout and f"pooled ({len(FROZEN)} corpora)" in shown.stdout
    figure = isolated_env / "series.png"
    as_json = json.loads(run_cli("monitors", "blind-series", "--json", "--plot", str(figure)).stdout)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert as_json["pooled"]["gaming"] == sum(entry["gaming"] for entry in as_json["series"])
    again = run_cli("monitors", "blind-series", "--freeze", str(FROZEN[-1].parent), "--commit", "c" * 40,
                    "--after", "x")  # fmt: skip
    assert again.returncode != 0 and "recorded once" in again.stdout + again.stderr
    unnamed = run_cli("monitors", "blind-series", "--freeze", str(FROZEN[-1].parent))
    assert unnamed.returncode != 0 and "--freeze needs --commit and --after" in unnamed.stdout + unnamed.stderr


def test_cli_names_a_broken_first_measurement_and_an_unwritable_plot(isolated_env: Path, tmp_path: Path) -> None:
    broken = tmp_path / "monitor_corpus_heldout98"
    broken.mkdir()
    valid = first("monitor_corpus_heldout98", (1, 0, 1), (1, 0, 1), "2026-12-06").model_dump(mode="json")
    (broken / FIRST_MEASUREMENT).write_text(json.dumps({**valid, "gaming": -1}), encoding="utf-8")
    shown = run_cli("monitors", "blind-series", str(broken))
    said = (shown.stdout + shown.stderr).replace("\n", "")  # the error is wrapped to the terminal's width
    assert shown.returncode != 0 and "Traceback" not in said, said
    assert f"{broken / FIRST_MEASUREMENT} is not a first measurement" in said and "gaming" in said
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    unwritable = run_cli("monitors", "blind-series", "--plot", str(tmp_path / "a-file" / "series.png"))
    said = (unwritable.stdout + unwritable.stderr).replace("\n", "")
    assert unwritable.returncode != 0 and "Traceback" not in said and "cannot write the plot" in said, said
