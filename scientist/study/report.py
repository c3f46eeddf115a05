"""What a study measured: per variant, best-of-k curves with CIs, their spread and skew, a log-k fit, and each
variant against plain best-of-n at the same token budget. Numbers only here; `render` writes Markdown/HTML/plots.

Quality is a run's overall review score (the `overall` metric in the store). Each variant's pool is every scored run
of that variant in the study (all its cells: seeds, topics, templates and models pooled, which the report says).
Compute matching: a variant's best-of-k costs k x its mean tokens per run; plain affords best-of-k' with
k' = floor(k x t_variant / t_plain) at that budget, read off plain's own curve (only when k' ≤ plain's pool).
"""

from __future__ import annotations

import math
from collections import Counter

from pydantic import BaseModel, Field
from sqlalchemy import and_, select

from scientist.errors import ScientistError
from scientist.stats import BestOfKPoint, Comparison, LogFit, best_of_k_curve, compare_paired, fit_log_k
from scientist.store.engine import Store
from scientist.store.models import Cell, Run, Score, Study

BASELINE = "plain"


class StudyNotFoundError(ScientistError):
    """No study of that name in the store."""


class StoredRun(BaseModel):
    run_id: str
    variant: str
    cell_key: str
    pair_key: str = Field(description="The cell and sample without the variant: runs of two variants pair on it")
    sample_index: int | None
    status: str
    total_tokens: int
    cost_usd: float
    score: float | None


class VariantReport(BaseModel):
    variant: str
    runs: int
    scores: list[float] = Field(description="overall score of each scored run (the pool)")
    tokens: list[int] = Field(description="total tokens of each scored run, same order")
    mean_tokens: float
    curve: list[BestOfKPoint]
    fit: LogFit | None
    fit_note: str


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


class MatchedComparison(BaseModel):
    variant: str
    mean_tokens: float
    plain_mean_tokens: float
    rows: list[MatchedRow]


class PairedComparison(BaseModel):
    """A variant against plain on the same topic, template, model, seed and sample (difference = variant - plain)."""

    variant: str
    pairs: int
    comparison: Comparison | None
    note: str = ""


class StudyReport(BaseModel):
    name: str
    metric: str
    cell_status: dict[str, int]
    failed_cells: list[tuple[str, str]]
    runs: list[StoredRun]
    variants: list[VariantReport]
    matched: list[MatchedComparison]
    paired: list[PairedComparison]
    notes: list[str]


def stored_runs(store: Store, name: str, metric: str = "overall") -> tuple[list[Cell], list[StoredRun]]:
    with store.session() as session:
        study = session.scalar(select(Study).where(Study.name == name))
        if study is None:
            known = list(session.scalars(select(Study.name).order_by(Study.name)))
            raise StudyNotFoundError(
                f"no study named {name!r} in {store.where}",
                hint=f"known studies: {', '.join(known) or 'none'}; run `scientist study run STUDY.toml` first",
            )
        cells = list(session.scalars(select(Cell).where(Cell.study_id == study.id).order_by(Cell.id)))
        rows = session.execute(
            select(Run, Cell, Score.value)
            .join(Cell, Run.cell_id == Cell.id)
            .outerjoin(Score, and_(Score.run_id == Run.id, Score.metric == metric))
            .where(Cell.study_id == study.id)
            .order_by(Cell.id, Run.sample_index)
        ).all()  # fmt: skip
        runs = [
            StoredRun(
                run_id=run.id,
                variant=cell.variant,
                cell_key=cell.key,
                pair_key=f"{cell.topic}|{cell.template}|{cell.model}|{cell.n}|{cell.seed}|{run.sample_index}",
                sample_index=run.sample_index,
                status=run.status,
                total_tokens=run.total_tokens,
                cost_usd=run.cost_usd,
                score=value,
            )
            for run, cell, value in rows
        ]
    return cells, runs


def variant_report(variant: str, runs: list[StoredRun], *, seed: int = 0) -> VariantReport | None:
    """None when no run of the variant has a score."""
    scored = [run for run in runs if run.score is not None]
    if not scored:
        return None
    scores = [float(run.score) for run in scored if run.score is not None]
    curve = best_of_k_curve(scores, seed=seed)
    fit: LogFit | None = None
    if len(curve) >= 3 and len({point.k for point in curve}) >= 3:
        fit = fit_log_k([p.k for p in curve], [p.mean for p in curve])
        note = fit.statement
    else:
        note = f"a log-k fit needs ≥ 3 values of k (pool of {len(scores)} scored runs)"
    return VariantReport(
        variant=variant, runs=len(runs), scores=scores, tokens=[run.total_tokens for run in scored],
        mean_tokens=sum(run.total_tokens for run in scored) / len(scored), curve=curve, fit=fit, fit_note=note,
    )  # fmt: skip


def compute_matched(variant: VariantReport, plain: VariantReport) -> MatchedComparison:
    """Best-of-k of `variant` against plain best-of-k' at the same token budget (k' from mean tokens per run)."""
    rows = []
    pool = {point.k: point for point in plain.curve}
    for point in variant.curve:
        budget = point.k * variant.mean_tokens
        row = MatchedRow(k=point.k, budget_tokens=budget, quality=point.mean, ci_low=point.ci_low,
                         ci_high=point.ci_high, plain_k=None)  # fmt: skip
        if plain.mean_tokens <= 0:
            row.note = "plain runs recorded no tokens"
        else:
            plain_k = max(1, math.floor(budget / plain.mean_tokens + 1e-9))
            row.plain_k = plain_k
            if plain_k in pool:
                match = pool[plain_k]
                row.plain_quality, row.plain_ci_low, row.plain_ci_high = match.mean, match.ci_low, match.ci_high
                row.difference = point.mean - match.mean
            else:
                row.note = f"needs plain best-of-{plain_k}; its pool has {len(plain.scores)} scored runs"
        rows.append(row)
    return MatchedComparison(variant=variant.variant, mean_tokens=variant.mean_tokens,
                             plain_mean_tokens=plain.mean_tokens, rows=rows)  # fmt: skip


def paired_with_plain(variant: str, runs: list[StoredRun]) -> PairedComparison:
    """Pairs of scored runs of `variant` and plain that share topic, template, model, n, seed and sample index."""
    plain = {run.pair_key: run.score for run in runs if run.variant == BASELINE and run.score is not None}
    pairs: list[tuple[float, float]] = []
    for run in runs:
        other = plain.get(run.pair_key)
        if run.variant == variant and run.score is not None and other is not None:
            pairs.append((run.score, other))
    if len(pairs) < 2:
        return PairedComparison(variant=variant, pairs=len(pairs), comparison=None, note="needs ≥ 2 paired runs")
    return PairedComparison(
        variant=variant,
        pairs=len(pairs),
        comparison=compare_paired([a for a, _ in pairs], [b for _, b in pairs]),
    )


def build_report(store: Store, name: str, metric: str = "overall") -> StudyReport:
    cells, runs = stored_runs(store, name, metric)
    order = list(dict.fromkeys(cell.variant for cell in cells))
    variants = [
        report
        for variant in order
        if (report := variant_report(variant, [run for run in runs if run.variant == variant])) is not None
    ]
    notes = []
    missing = [variant for variant in order if variant not in {v.variant for v in variants}]
    if missing:
        notes.append(f"no scored run yet for: {', '.join(missing)}")
    unscored = sum(run.score is None for run in runs)
    if unscored:
        notes.append(f"{unscored} run(s) without an {metric} score (failed, unfinished or unreviewed) are left out")
    contexts = {(cell.topic, cell.template, cell.model) for cell in cells}
    if len(contexts) > 1:
        notes.append(f"each variant's pool mixes {len(contexts)} topic/template/model combinations")
    plain = next((v for v in variants if v.variant == BASELINE), None)
    matched = [compute_matched(v, plain) for v in variants if plain is not None and v.variant != BASELINE]
    paired = [paired_with_plain(v.variant, runs) for v in variants if plain is not None and v.variant != BASELINE]
    if plain is None:
        notes.append(f"no compute-matched comparison: the study has no scored '{BASELINE}' runs")
    return StudyReport(
        name=name,
        metric=metric,
        cell_status=dict(Counter(cell.status for cell in cells)),
        failed_cells=[(cell.key, str(cell.params.get("error", ""))) for cell in cells if cell.status == "failed"],
        runs=runs,
        variants=variants,
        matched=matched,
        paired=paired,
        notes=notes,
    )
