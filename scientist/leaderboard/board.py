"""Group stored run scores into leaderboard entries: mean, 95 % CI, n, cost, flags."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from scientist.errors import ScientistError
from scientist.store.engine import Store
from scientist.store.queries import GROUPINGS, RunScore, known_metrics, run_scores


class LeaderboardInputError(ScientistError):
    """An unknown grouping or metric."""


class Entry(BaseModel):
    """One group of runs (e.g. one model)."""

    key: str
    n: int
    mean: float
    ci_low: float | None = Field(description="95 % t-interval of the mean; None for a single run")
    ci_high: float | None
    cost_usd: float
    tokens: int
    flagged_runs: int
    runs: list[RunScore]

    @property
    def flags(self) -> list[str]:
        """Monitors with a high or critical flag on some run of the entry."""
        return sorted({flag.monitor for run in self.runs for flag in run.flags if flag.serious})

    @property
    def notes(self) -> list[str]:
        """Monitors with only lower-severity flags (info, low, medium): shown, but the entry is not flagged for them."""
        return sorted({flag.monitor for run in self.runs for flag in run.flags if not flag.serious} - set(self.flags))


class Leaderboard(BaseModel):
    by: str
    metric: str
    entries: list[Entry]
    score: str = Field(default="self", description="self: each run's own review; judge: one judge's verdicts")
    note: str | None = Field(default=None, description="Why the board shows other scores than asked for")


SCORE_KINDS = ("judge", "self")


def scored_by(store: Store, score: str = "judge") -> tuple[str | None, str | None]:
    """Whose scores a board shows, for the CLI and the web page alike: `judge` is the configured judge's verdicts
    (its settings hash) while any stored run has one, else the runs' own reviews with a note saying so; `self` is
    always the runs' own. Returns (judge hash or None, note or None)."""
    if score not in SCORE_KINDS:
        raise LeaderboardInputError(f"unknown score kind {score!r}", hint=f"use one of: {', '.join(SCORE_KINDS)}")
    if score == "self":
        return None, None
    from scientist.config import load_settings
    from scientist.judging import resolve_judge
    from scientist.store.queries import judged_runs

    judge = resolve_judge(load_settings())
    if judged_runs(store, judge.hash):
        return judge.hash, None
    return None, (
        f"no stored run has a verdict of {judge.describe()}: showing each run's own review (self-grading);"
        " `scientist judge RUNS_DIR` judges them"
    )


def _t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def entry(key: str, runs: list[RunScore]) -> Entry:
    values = [run.value for run in runs]
    n = len(values)
    mean = sum(values) / n
    low = high = None
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = _t_quantile(n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return Entry(
        key=key, n=n, mean=mean, ci_low=low, ci_high=high,
        cost_usd=sum(run.cost_usd for run in runs), tokens=sum(run.total_tokens for run in runs),
        flagged_runs=sum(1 for run in runs if run.flagged), runs=runs,
    )  # fmt: skip


def build(store: Store, by: str = "model", metric: str = "overall", judge_hash: str | None = None) -> Leaderboard:
    """Entries sorted best first; unknown `by`/`metric` raise an error naming the valid options. With `judge_hash`
    the scores are that judge's (kind `judge`), else the runs' own (kind `self`)."""
    if by not in GROUPINGS:
        raise LeaderboardInputError(f"unknown grouping --by {by!r}", hint=f"use one of: {', '.join(GROUPINGS)}")
    metrics = known_metrics(store)
    if metric not in metrics:
        raise LeaderboardInputError(f"unknown metric --metric {metric!r}", hint=f"use one of: {', '.join(metrics)}")
    groups: dict[str, list[RunScore]] = {}
    for run in run_scores(store, metric, judge_hash):
        groups.setdefault(run.group(by), []).append(run)
    entries = sorted((entry(key, runs) for key, runs in groups.items()), key=lambda e: (-e.mean, e.key))
    return Leaderboard(by=by, metric=metric, entries=entries, score="self" if judge_hash is None else "judge")
