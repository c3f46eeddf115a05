"""What a study measured: per variant, best-of-k curves with CIs, their spread and skew, a log-k fit, and each
variant against plain best-of-n at the same token budget. Numbers only here; `render` writes Markdown/HTML/plots.

Quality is a score of each run's final paper, of one kind: `judge` (default: the study's fixed judge, the same
settings for every variant, see scientist.judging) or `self` (the run's own review, part of the agent). Both are
kept, and their gap per model and variant (self - judge: self-grading inflation) is reported with a CI.
Failures are counted, not dropped: every run of a cell is in its variant's pool; a run that failed, ended without
a paper or got no valid form scores `failed_score` (default: the form's minimum). Beside that curve the report
shows each cell's success rate and the curve over successful runs only, so both readings are visible. Runs still
going (or not judged yet) are left out and counted in a note.
Each variant's pool pools all its cells (seeds, topics, templates and models), which the report says.
Compute matching: a variant's best-of-k costs k x its mean tokens per run; plain affords best-of-k' with
k' = floor(k x t_variant / t_plain) at that budget, read off plain's own curve (only when k' ≤ plain's pool).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import and_, select

from scientist.errors import ConfigError, ScientistError
from scientist.measure.stats import (
    BestOfKPoint,
    Comparison,
    LogFit,
    best_of_k_curve,
    bootstrap_difference_of_max,
    compare_paired,
    fit_log_k,
)
from scientist.reviews.form import SCORE_FIELDS
from scientist.runs import RunFolder
from scientist.store.engine import Store
from scientist.store.models import Cell, Judgement, Run, Score, Study

BASELINE = "plain"
FORM_MINIMUM = 1.0  # every score field of the review form starts at 1
ScoreKind = Literal["judge", "self"]
SCORE_KINDS: tuple[ScoreKind, ...] = ("judge", "self")
FINISHED = ("completed", "stopped")
Outcome = Literal["scored", "failed", "pending"]


class StudyNotFoundError(ScientistError):
    """No study of that name in the store."""


class StoredRun(BaseModel):
    run_id: str
    variant: str
    cell_key: str
    pair_key: str = Field(description="The cell and sample without the variant: runs of two variants pair on it")
    sample_index: int | None
    status: str
    model: str = ""
    total_tokens: int
    cost_usd: float
    wall_s: float = Field(default=0.0, description="active wall time of the run (its sessions, from its audit log)")
    score: float | None = Field(default=None, description="the chosen kind's score; None unless the outcome is scored")
    outcome: Outcome = "scored"
    self_score: float | None = None
    judge_score: float | None = None
    judge_status: str | None = Field(default=None, description="judged | failed | no_paper; None: not judged yet")
    novelty_unchecked: bool = Field(
        default=False, description="an idea of the run went on with its novelty unchecked (empty index, offline)"
    )

    def value(self, failed_score: float | None) -> float | None:
        """The run's number in its pool: its score, `failed_score` for a failure, None when still pending."""
        if self.outcome == "scored":
            return self.score
        return failed_score if self.outcome == "failed" else None


class VariantReport(BaseModel):
    variant: str
    runs: int
    scores: list[float] = Field(description="each run's value in the pool: its score, or failed_score if it failed")
    tokens: list[int] = Field(description="total tokens of each run in the pool, same order")
    mean_tokens: float
    mean_usd: float = 0.0
    mean_wall_s: float = 0.0
    curve: list[BestOfKPoint] = Field(description="best-of-k over the pool, failures counted")
    fit: LogFit | None
    fit_note: str
    successes: int = 0
    failures: int = 0
    pending: int = 0
    success_scores: list[float] = Field(default_factory=list, description="scores of the successful runs only")
    success_curve: list[BestOfKPoint] = Field(default_factory=list, description="best-of-k over successes only")

    @property
    def success_rate(self) -> float | None:
        done = self.successes + self.failures
        return self.successes / done if done else None


class CellRow(BaseModel):
    """One cell: how many of its runs succeeded, and best-of-n over its successes only (never extrapolated)."""

    key: str
    variant: str
    model: str
    n: int
    runs: int
    successes: int
    failures: int
    pending: int
    best_of_n: float | None = Field(default=None, description="E[max of n] over successes; None with fewer than n")
    note: str = ""

    @property
    def success_rate(self) -> float | None:
        done = self.successes + self.failures
        return self.successes / done if done else None


class GapRow(BaseModel):
    """Self-grading inflation of one model and variant: the run's own score minus the judge's, paired by run."""

    model: str
    variant: str
    pairs: int
    comparison: Comparison | None
    note: str = ""


class MatchedRow(BaseModel):
    k: int
    budget_tokens: float
    quality: float
    ci_low: float | None
    ci_high: float | None
    plain_k: int | None
    plain_quality: float | None = None
    plain_ci_low: float | None = None
    plain_ci_high: float | None = None
    difference: float | None = None
    note: str = ""


CostAxis = Literal["tokens", "usd", "wall_s"]
COST_AXES: tuple[CostAxis, ...] = ("tokens", "usd", "wall_s")


class MatchedComparison(BaseModel):
    """On one cost axis (tokens, USD or active wall seconds): `mean_tokens` and `plain_mean_tokens` are the per-run
    means on that axis, each row's `budget_tokens` the budget on it (names kept from the token-only report)."""

    variant: str
    mean_tokens: float
    plain_mean_tokens: float
    rows: list[MatchedRow]
    axis: CostAxis = "tokens"


class ComponentRow(BaseModel):
    """One component's effect at matched compute: one run with it (best-of-1) against the best-of-k' of the
    variant without it that the same tokens buy. add: `<base>+C` vs `<base>`; drop: `<base>` vs `<base>-C`."""

    component: str
    test: Literal["add", "drop"]
    with_variant: str
    without_variant: str
    with_tokens: float
    without_tokens: float
    quality: float
    ci_low: float | None
    ci_high: float | None
    matched_k: int | None = Field(default=None, description="k' of the variant without C at the same tokens")
    matched_quality: float | None = None
    matched_ci_low: float | None = None
    matched_ci_high: float | None = None
    effect: float | None = Field(default=None, description="quality with C minus the matched best-of-k' without")
    effect_ci_low: float | None = None
    effect_ci_high: float | None = None
    note: str = ""


class PairedComparison(BaseModel):
    """A variant against plain on the same topic, template, model, seed and sample (difference = variant - plain)."""

    variant: str
    pairs: int
    comparison: Comparison | None
    note: str = ""


class HypothesisResult(BaseModel):
    """A pre-registered hypothesis with its estimate (variant minus baseline, paired by run), CI and permutation p."""

    name: str
    variant: str
    baseline: str
    direction: str
    pairs: int
    comparison: Comparison | None
    verdict: str


class StudyReport(BaseModel):
    name: str
    metric: str
    score: ScoreKind = "judge"
    judge: str = Field(default="", description="the judge's model and settings hash, for the report's heading")
    failed_score: float | None = None
    cells: list[CellRow] = Field(default_factory=list)
    gaps: list[GapRow] = Field(default_factory=list)
    cell_status: dict[str, int]
    failed_cells: list[tuple[str, str]]
    runs: list[StoredRun]
    variants: list[VariantReport]
    matched: list[MatchedComparison]
    matched_usd: list[MatchedComparison] = Field(default_factory=list)
    matched_wall: list[MatchedComparison] = Field(default_factory=list)
    components: list[ComponentRow] = Field(default_factory=list, description="per component, add-one and drop-one")
    hypotheses: list[HypothesisResult] = Field(default_factory=list)
    registered_at: str | None = None
    amendments: list[tuple[str, str]] = Field(default_factory=list, description="(when, what changed)")
    paired: list[PairedComparison]
    notes: list[str]

    @property
    def novelty_unchecked(self) -> int:
        """Runs whose novelty could not be checked (counted in `notes` too)."""
        return sum(run.novelty_unchecked for run in self.runs)


def study_names(store: Store) -> list[str]:
    """Every study recorded in the store, by name."""
    with store.session() as session:
        return list(session.scalars(select(Study.name).order_by(Study.name)))


def stored_runs(
    store: Store, name: str, metric: str = "overall", score: ScoreKind = "self"
) -> tuple[list[Cell], list[StoredRun]]:
    """The study's cells and every run linked to them, with both kinds of score and the chosen one's outcome."""
    if score not in SCORE_KINDS:
        raise ConfigError(f"unknown score kind {score!r}", hint=f"use one of: {', '.join(SCORE_KINDS)}")
    with store.session() as session:
        study = session.scalar(select(Study).where(Study.name == name))
        if study is None:
            known = list(session.scalars(select(Study.name).order_by(Study.name)))
            raise StudyNotFoundError(
                f"no study named {name!r} in {store.where}",
                hint=f"known studies: {', '.join(known) or 'none'}; run `scientist study run STUDY.toml` first",
            )
        judge_hash = str((study.spec or {}).get("judge_hash") or "")
        cells = list(session.scalars(select(Cell).where(Cell.study_id == study.id).order_by(Cell.id)))
        rows = session.execute(
            select(Run, Cell, Score.value, Judgement)
            .join(Cell, Run.cell_id == Cell.id)
            .outerjoin(Score, and_(Score.run_id == Run.id, Score.metric == metric))
            .outerjoin(Judgement, and_(Judgement.run_id == Run.id, Judgement.judge_hash == judge_hash))
            .where(Cell.study_id == study.id)
            .order_by(Cell.id, Run.sample_index)
        ).all()  # fmt: skip
        runs = []
        for run, cell, value, judgement in rows:
            judged = judgement.scores.get(metric) if judgement is not None else None
            stored = StoredRun(
                run_id=run.id,
                variant=cell.variant,
                cell_key=cell.key,
                pair_key=f"{cell.topic}|{cell.template}|{cell.model}|{cell.n}|{cell.seed}|{run.sample_index}",
                sample_index=run.sample_index,
                status=run.status,
                model=cell.model,
                total_tokens=run.total_tokens,
                cost_usd=run.cost_usd,
                wall_s=_wall_seconds(run.run_dir),
                self_score=value,
                judge_score=float(judged) if isinstance(judged, int | float) else None,
                judge_status=judgement.status if judgement is not None else None,
                novelty_unchecked=_novelty_unchecked(run.run_dir),
            )
            stored.outcome, stored.score = _outcome(stored, score)
            runs.append(stored)
    return cells, runs


def _wall_seconds(run_dir: str) -> float:
    """Active wall time of a run from its audit log (0 when its folder is not on this machine)."""
    from pathlib import Path

    from scientist.approvals.budget import active_seconds
    from scientist.audit.log import AuditLog

    folder = Path(run_dir)
    if not RunFolder(folder).audit_log.is_file():
        return 0.0
    return round(active_seconds(AuditLog(folder)), 3)


def _novelty_unchecked(run_dir: str) -> bool:
    """Whether the run's novelty.json holds an unchecked verdict (False when its folder is not on this machine)."""
    from pathlib import Path

    from scientist.stages.novelty import unchecked_summary

    return unchecked_summary(Path(run_dir)) is not None


def _outcome(run: StoredRun, score: ScoreKind) -> tuple[Outcome, float | None]:
    """scored: it has a score of the kind; failed: it failed, ended without a paper, or got no valid form;
    pending: still running, waiting, or not judged yet."""
    if run.status == "failed":
        return "failed", None
    if run.status not in FINISHED:
        return "pending", None
    if score == "self":
        return ("scored", run.self_score) if run.self_score is not None else ("failed", None)
    if run.judge_status is None:
        return "pending", None
    return ("scored", run.judge_score) if run.judge_score is not None else ("failed", None)


def default_failed_score(metric: str) -> float | None:
    """The form's minimum for a review score; None for other metrics (no floor known: give --failed-score)."""
    return FORM_MINIMUM if metric in SCORE_FIELDS else None


def variant_report(
    variant: str, runs: list[StoredRun], *, seed: int = 0, failed_score: float | None = FORM_MINIMUM
) -> VariantReport | None:
    """None when the variant has no run in its pool (no score and, without a failed_score, no countable failure)."""
    pool = [(run, value) for run in runs if (value := run.value(failed_score)) is not None]
    if not pool:
        return None
    scores = [value for _, value in pool]
    curve = best_of_k_curve(scores, seed=seed)
    fit: LogFit | None = None
    if len(curve) >= 3 and len({point.k for point in curve}) >= 3:
        fit = fit_log_k([p.k for p in curve], [p.mean for p in curve])
        note = fit.statement
    else:
        note = f"a log-k fit needs ≥ 3 values of k (pool of {len(scores)} runs)"
    successes = [float(run.score) for run in runs if run.outcome == "scored" and run.score is not None]
    return VariantReport(
        variant=variant, runs=len(runs), scores=scores, tokens=[run.total_tokens for run, _ in pool],
        mean_tokens=sum(run.total_tokens for run, _ in pool) / len(pool), curve=curve, fit=fit, fit_note=note,
        mean_usd=sum(run.cost_usd for run, _ in pool) / len(pool),
        mean_wall_s=sum(run.wall_s for run, _ in pool) / len(pool),
        successes=len(successes), failures=sum(run.outcome == "failed" for run in runs),
        pending=sum(run.outcome == "pending" for run in runs), success_scores=successes,
        success_curve=best_of_k_curve(successes, seed=seed) if successes else [],
    )  # fmt: skip


def cell_rows(cells: list[Cell], runs: list[StoredRun], *, seed: int = 0) -> list[CellRow]:
    """Per cell: success rate, and E[max of n] over its successful runs only when it has n of them."""
    rows = []
    for cell in cells:
        mine = [run for run in runs if run.cell_key == cell.key]
        good = [float(run.score) for run in mine if run.outcome == "scored" and run.score is not None]
        row = CellRow(key=cell.key, variant=cell.variant, model=cell.model, n=cell.n, runs=len(mine),
                      successes=len(good), failures=sum(r.outcome == "failed" for r in mine),
                      pending=sum(r.outcome == "pending" for r in mine))  # fmt: skip
        if len(good) >= cell.n:
            row.best_of_n = best_of_k_curve(good, [cell.n], confidence=None, seed=seed)[0].mean
        else:
            row.note = f"only {len(good)} of {cell.n} runs scored: best-of-{cell.n} over successes not estimated"
        rows.append(row)
    return rows


def self_judge_gaps(runs: list[StoredRun]) -> list[GapRow]:
    """Per model and variant: self score minus judge score on the runs that have both (paired by run)."""
    groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in runs:
        if run.self_score is not None and run.judge_score is not None:
            groups.setdefault((run.model, run.variant), []).append((run.self_score, run.judge_score))
    rows = []
    for (model, variant), pairs in groups.items():
        if len(pairs) < 2:
            rows.append(GapRow(model=model, variant=variant, pairs=len(pairs), comparison=None,
                               note="needs ≥ 2 runs with both scores"))  # fmt: skip
            continue
        comparison = compare_paired([a for a, _ in pairs], [b for _, b in pairs])
        rows.append(GapRow(model=model, variant=variant, pairs=len(pairs), comparison=comparison))
    return rows


_AXIS_MEAN = {"tokens": "mean_tokens", "usd": "mean_usd", "wall_s": "mean_wall_s"}
_AXIS_WHAT = {"tokens": "tokens", "usd": "cost", "wall_s": "wall time"}


def compute_matched(variant: VariantReport, plain: VariantReport, axis: CostAxis = "tokens") -> MatchedComparison:
    """Best-of-k of `variant` against plain best-of-k' at the same budget on `axis` (k' = floor(k x mean per run
    of the variant / plain's mean per run), read off plain's own curve)."""
    rows = []
    pool = {point.k: point for point in plain.curve}
    mine, theirs = getattr(variant, _AXIS_MEAN[axis]), getattr(plain, _AXIS_MEAN[axis])
    for point in variant.curve:
        budget = point.k * mine
        row = MatchedRow(k=point.k, budget_tokens=budget, quality=point.mean, ci_low=point.ci_low,
                         ci_high=point.ci_high, plain_k=None)  # fmt: skip
        if theirs <= 0:
            row.note = f"plain runs recorded no {_AXIS_WHAT[axis]}"
        else:
            plain_k = max(1, math.floor(budget / theirs + 1e-9))
            row.plain_k = plain_k
            if plain_k in pool:
                match = pool[plain_k]
                row.plain_quality, row.plain_ci_low, row.plain_ci_high = match.mean, match.ci_low, match.ci_high
                row.difference = point.mean - match.mean
            else:
                row.note = f"needs plain best-of-{plain_k}; its pool has {len(plain.scores)} scored runs"
        rows.append(row)
    return MatchedComparison(variant=variant.variant, mean_tokens=mine, plain_mean_tokens=theirs, rows=rows,
                             axis=axis)  # fmt: skip


def component_pairs(names: list[str]) -> list[tuple[str, Literal["add", "drop"], str, str]]:
    """(component, test, variant with it, variant without it) for every variant named `<base>+C` or `<base>-C`
    whose base is a variant of the same study (the longest such base), in the study's order."""
    pairs: list[tuple[str, Literal["add", "drop"], str, str]] = []
    for name in names:
        bases = [base for base in names if base != name and name.startswith((f"{base}+", f"{base}-"))]
        if not bases:
            continue
        base = max(bases, key=len)
        component = name[len(base) + 1 :]
        if name[len(base)] == "+":
            pairs.append((component, "add", name, base))
        else:
            pairs.append((component, "drop", base, name))
    return pairs


def component_rows(variants: list[VariantReport], *, seed: int = 0) -> list[ComponentRow]:
    """Each component's effect at matched compute (`component_pairs`): the k = 1 row of `compute_matched` (the
    variant with C against the best-of-k' without it at the same mean tokens, each with its best-of-k CI), and the
    difference's CI by `stats.bootstrap_difference_of_max` over both pools."""
    by_name = {v.variant: v for v in variants}
    rows = []
    for component, test, with_name, without_name in component_pairs(list(by_name)):
        mine, theirs = by_name[with_name], by_name[without_name]
        matched = compute_matched(mine, theirs).rows[0]
        row = ComponentRow(
            component=component, test=test, with_variant=with_name, without_variant=without_name,
            with_tokens=mine.mean_tokens, without_tokens=theirs.mean_tokens, quality=matched.quality,
            ci_low=matched.ci_low, ci_high=matched.ci_high, matched_k=matched.plain_k,
            matched_quality=matched.plain_quality, matched_ci_low=matched.plain_ci_low,
            matched_ci_high=matched.plain_ci_high, effect=matched.difference,
            note=matched.note.replace("plain", without_name),
        )  # fmt: skip
        if matched.difference is not None and matched.plain_k is not None:
            _, row.effect_ci_low, row.effect_ci_high = bootstrap_difference_of_max(
                mine.scores, 1, theirs.scores, matched.plain_k, seed=seed
            )
        rows.append(row)
    return rows


def paired_with_plain(
    variant: str, runs: list[StoredRun], failed_score: float | None = FORM_MINIMUM
) -> PairedComparison:
    """Pairs of runs of `variant` and plain that share topic, template, model, n, seed and sample index (a failed
    run counts with failed_score, as in the pools)."""
    plain = {
        run.pair_key: value
        for run in runs
        if run.variant == BASELINE and (value := run.value(failed_score)) is not None
    }
    pairs: list[tuple[float, float]] = []
    for run in runs:
        other = plain.get(run.pair_key)
        mine = run.value(failed_score)
        if run.variant == variant and mine is not None and other is not None:
            pairs.append((mine, other))
    if len(pairs) < 2:
        return PairedComparison(variant=variant, pairs=len(pairs), comparison=None, note="needs ≥ 2 paired runs")
    return PairedComparison(
        variant=variant,
        pairs=len(pairs),
        comparison=compare_paired([a for a, _ in pairs], [b for _, b in pairs]),
    )


def paired_values(
    variant: str, baseline: str, runs: list[StoredRun], failed_score: float | None
) -> list[tuple[float, float]]:
    """(variant, baseline) values of runs sharing topic, template, model, n, seed and sample index."""
    other = {
        run.pair_key: value
        for run in runs
        if run.variant == baseline and (value := run.value(failed_score)) is not None
    }
    pairs = []
    for run in runs:
        mine = run.value(failed_score)
        if run.variant == variant and mine is not None and run.pair_key in other:
            pairs.append((mine, other[run.pair_key]))
    return pairs


def hypothesis_results(
    spec: dict[str, Any], runs: list[StoredRun], failed_score: float | None
) -> list[HypothesisResult]:
    """Each pre-registered hypothesis: supported when the CI lies wholly on its side of 0, else not supported."""
    results = []
    hypotheses = spec.get("hypotheses")
    for name, raw in (hypotheses if isinstance(hypotheses, dict) else {}).items():
        variant, baseline = str(raw.get("variant")), str(raw.get("baseline", BASELINE))
        direction = str(raw.get("direction", "greater"))
        pairs = paired_values(variant, baseline, runs, failed_score)
        comparison = compare_paired([a for a, _ in pairs], [b for _, b in pairs]) if len(pairs) >= 2 else None
        if comparison is None:
            verdict = "not testable yet (needs ≥ 2 paired runs)"
        else:
            side = {"greater": comparison.ci_low > 0, "less": comparison.ci_high < 0,
                    "different": comparison.ci_low > 0 or comparison.ci_high < 0}[direction]  # fmt: skip
            verdict = "supported (95% CI excludes 0 on the expected side)" if side else "not supported"
        results.append(HypothesisResult(name=name, variant=variant, baseline=baseline, direction=direction,
                                        pairs=len(pairs), comparison=comparison, verdict=verdict))  # fmt: skip
    return results


def build_report(
    store: Store,
    name: str,
    metric: str = "overall",
    score: ScoreKind = "judge",
    failed_score: float | None = None,
) -> StudyReport:
    """The study's numbers for one metric and score kind; `failed_score` None: the study file's, else the form's
    minimum (for review scores)."""
    cells, runs = stored_runs(store, name, metric, score)
    with store.session() as session:
        study = session.scalar(select(Study).where(Study.name == name))
        spec = dict(study.spec or {}) if study is not None else {}
    if failed_score is None:
        chosen = spec.get("failed_score")
        failed_score = float(chosen) if isinstance(chosen, int | float) else default_failed_score(metric)
    order = list(dict.fromkeys(cell.variant for cell in cells))
    variants = [
        report
        for variant in order
        if (report := variant_report(variant, [run for run in runs if run.variant == variant],
                                     failed_score=failed_score)) is not None
    ]  # fmt: skip
    notes = []
    missing = [variant for variant in order if variant not in {v.variant for v in variants}]
    if missing:
        notes.append(f"no scored run yet for: {', '.join(missing)}")
    judge = spec.get("judge_resolved") if isinstance(spec.get("judge_resolved"), dict) else None
    if score == "judge" and judge is None:
        notes.append("this study has no judge yet: run `scientist study run` on its file again (or use --score self)")
    pending = [run for run in runs if run.outcome == "pending"]
    unjudged = sum(run.status in FINISHED and run.judge_status is None for run in pending)
    if unjudged and score == "judge":
        notes.append(f"{unjudged} finished run(s) not judged yet are left out: `scientist study run` again judges them")
    if len(pending) > unjudged or (pending and score == "self"):
        notes.append(f"{len(pending) - (unjudged if score == 'judge' else 0)} run(s) still going are left out")
    failed = sum(run.outcome == "failed" for run in runs)
    if failed and failed_score is None:
        notes.append(f"{failed} failed run(s) are left out: {metric} has no form minimum (give --failed-score)")
    elif failed:
        notes.append(f"{failed} failed or unscored run(s) count as {failed_score:g} (failed_score)")
    unchecked = sum(run.novelty_unchecked for run in runs)
    if unchecked:
        notes.append(
            f"{unchecked} run(s) went on with novelty unchecked (empty paper index, no literature source answered):"
            " their ideas were never compared with published work"
        )
    contexts = {(cell.topic, cell.template, cell.model) for cell in cells}
    if len(contexts) > 1:
        notes.append(f"each variant's pool mixes {len(contexts)} topic/template/model combinations")
    plain = next((v for v in variants if v.variant == BASELINE), None)
    others = [v for v in variants if plain is not None and v.variant != BASELINE]
    matched = [compute_matched(v, plain) for v in others if plain is not None]
    matched_usd = [compute_matched(v, plain, "usd") for v in others if plain is not None]
    matched_wall = [compute_matched(v, plain, "wall_s") for v in others if plain is not None]
    paired = [paired_with_plain(v.variant, runs, failed_score) for v in variants
              if plain is not None and v.variant != BASELINE]  # fmt: skip
    if plain is None:
        notes.append(f"no compute-matched comparison: the study has no scored '{BASELINE}' runs")
    judge_label = ""
    if judge is not None:
        judge_label = f"{judge.get('model')} (settings {spec.get('judge_hash')})"
    found = spec.get("preregistration")
    prereg: dict[str, Any] = found if isinstance(found, dict) else {}
    amendments = [(str(a.get("at")), "; ".join(a.get("changes") or [])) for a in prereg.get("amendments") or []]
    return StudyReport(
        name=name,
        metric=metric,
        score=score,
        hypotheses=hypothesis_results(spec, runs, failed_score),
        registered_at=prereg.get("registered_at"),
        amendments=amendments,
        judge=judge_label,
        failed_score=failed_score,
        cells=cell_rows(cells, runs),
        gaps=self_judge_gaps(runs),
        cell_status=dict(Counter(cell.status for cell in cells)),
        failed_cells=[(cell.key, str(cell.params.get("error", ""))) for cell in cells if cell.status == "failed"],
        runs=runs,
        variants=variants,
        matched=matched,
        matched_usd=matched_usd,
        matched_wall=matched_wall,
        components=component_rows(variants),
        paired=paired,
        notes=notes,
    )
