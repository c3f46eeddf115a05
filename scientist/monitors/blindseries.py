"""The blind series: each held-out corpus's FIRST whole-harness measurement, frozen, and their pooled estimate.

A corpus's reeval.json is re-recorded whenever the monitors change, and once a corpus has been read to tune the
monitors its numbers are regression checks. What a researcher can cite about cases nobody tuned for is therefore
each corpus's record as it stood when it was first measured, blind: `first_measurement.json` beside its cases,
written once from that record (`freeze_record`) and never again. Pooled over the series, the counts estimate how the
harness does on the next style nobody has written yet — with a narrower interval than any single corpus gives,
and with the caveat that each corpus met the monitors of its own day.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from scientist.monitors.evaluate import MonitorScore
from scientist.monitors.reevalreport import ReevalReport, ScoreRow

FIRST_MEASUREMENT = "first_measurement.json"


class Counts(MonitorScore):
    """One row's confusion counts (recall, precision and their Wilson intervals are MonitorScore's, derived, so a
    frozen file cannot disagree with itself)."""

    tp: int = Field(0, ge=0)
    fp: int = Field(0, ge=0)
    fn: int = Field(0, ge=0)

    def __add__(self, other: Counts) -> Counts:
        return Counts(tp=self.tp + other.tp, fp=self.fp + other.fp, fn=self.fn + other.fn)

    @classmethod
    def of(cls, row: ScoreRow) -> Counts:
        return cls(tp=row.tp, fp=row.fp, fn=row.fn)


class FirstMeasurement(BaseModel):
    """A corpus's first blind `monitors eval --reeval`, as recorded then."""

    corpus: str = Field(description="the corpus folder, e.g. tests/monitor_corpus_heldout12")
    commit: str = Field(description="the commit that recorded the measurement (its reeval.json as first written)")
    measured_on: str = Field(description="ISO date of the measurement")
    after: str = Field(description="the monitors measured: the tuning pass they had just received")
    gaming: int = Field(ge=0)
    honest: int = Field(ge=0)
    static: Counts
    combined: Counts


class PooledSeries(BaseModel):
    corpora: list[str]
    gaming: int
    honest: int
    static: Counts
    combined: Counts


def freeze_record(corpus: Path, commit: str, measured_on: str, after: str) -> FirstMeasurement:
    """Write `first_measurement.json` from the corpus's reeval.json. Refuses when one exists: a corpus is measured
    blind once; measuring it again after its results were read is a regression check, not part of the series."""
    target = corpus / FIRST_MEASUREMENT
    if target.exists():
        raise FileExistsError(
            f"{target} exists: a corpus's first blind measurement is recorded once. Measure a new blind corpus"
            " instead of re-freezing this one."
        )
    source = corpus / "reeval.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist: run `scientist monitors eval --reeval` on the corpus first")
    record = ReevalReport.model_validate_json(source.read_text(encoding="utf-8"))
    first = of_rows(record.rows, record.gaming, record.honest, corpus=corpus.as_posix(), commit=commit,
                    measured_on=measured_on, after=after)  # fmt: skip
    target.write_text(first.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return first


def of_rows(rows: dict[str, ScoreRow], gaming: int, honest: int, **about: str) -> FirstMeasurement:
    """The series' rows of a reeval record (also of a record older than today's schema, read from git)."""
    return FirstMeasurement(gaming=gaming, honest=honest, static=Counts.of(rows["static"]),
                            combined=Counts.of(rows["combined"]), **about)  # fmt: skip


class SeriesFileError(ValueError):
    """A first_measurement.json that is not one (hand-edited, truncated): named, so the CLI can say which."""


def load_series(folders: list[Path]) -> list[FirstMeasurement]:
    """The first measurements found in `folders` (corpora without one are not part of the series), oldest first."""
    found = []
    for folder in folders:
        path = folder / FIRST_MEASUREMENT
        if not path.is_file():
            continue
        try:
            found.append(FirstMeasurement.model_validate_json(path.read_text(encoding="utf-8")))
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in err.errors()[:3])
            raise SeriesFileError(f"{path} is not a first measurement ({problems})") from None
    return sorted(found, key=lambda first: (first.measured_on, corpus_number(first.corpus)))


def pooled(series: list[FirstMeasurement]) -> PooledSeries:
    """Counts summed over the series: every gaming and honest case weighs the same, whichever corpus it is in."""
    if not series:
        raise ValueError("no first measurement to pool: freeze a blind corpus's reeval.json first")
    static, combined = series[0].static, series[0].combined
    for first in series[1:]:
        static, combined = static + first.static, combined + first.combined
    return PooledSeries(
        corpora=[first.corpus for first in series],
        gaming=sum(first.gaming for first in series),
        honest=sum(first.honest for first in series),
        static=static,
        combined=combined,
    )


def corpus_number(corpus: str) -> int:
    """13 for tests/monitor_corpus_heldout13 (0 for the tuning corpus): the order and label of a held-out corpus."""
    digits = "".join(ch for ch in Path(corpus).name if ch.isdigit())
    return int(digits or 0)


def _interval(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"


def _value(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def format_series(series: list[FirstMeasurement]) -> str:
    """A plain table: one line per corpus as first measured, then the pool."""
    header = (
        f"{'corpus':<34} {'measured':<10} {'gaming':>6} {'honest':>6}  {'static R':>8} {'static P':>8}"
        f"  {'harness R':>9} {'95 % CI':<12} {'harness P':>9} {'95 % CI':<12}"
    )
    lines = ["Blind series: each held-out corpus as first measured (whole harness = static + run + re-evaluation)",
             header, "-" * len(header)]  # fmt: skip

    def line(name: str, when: str, gaming: int, honest: int, static: Counts, combined: Counts) -> str:
        return (
            f"{name:<34} {when:<10} {gaming:>6} {honest:>6}  {_value(static.recall):>8} {_value(static.precision):>8}"
            f"  {_value(combined.recall):>9} {_interval(combined.recall_ci):<12} {_value(combined.precision):>9}"
            f" {_interval(combined.precision_ci):<12}"
        )

    for first in series:
        lines.append(line(Path(first.corpus).name, first.measured_on, first.gaming, first.honest, first.static,
                          first.combined))  # fmt: skip
    if series:
        pool = pooled(series)
        lines.append("-" * len(header))
        lines.append(line(f"pooled ({len(series)} corpora)", "", pool.gaming, pool.honest, pool.static, pool.combined))
    return "\n".join(lines)
