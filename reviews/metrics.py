"""Calibration metrics for an automated reviewer, each with a bootstrap confidence interval.

Why these: accuracy alone flatters a reviewer on an unbalanced set, so balanced accuracy, F1, FPR and FNR are
reported for every decision rule; ranking quality is a real ROC AUC on the *continuous* score (an AUC computed on
0/1 decisions, as the best-known reviewer benchmark does, only restates balanced accuracy); agreement inside the
ensemble is Krippendorff's alpha; and a single human reviewer on the same papers is the baseline to beat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel

Counts = tuple[float, float, float, float]  # tp, fp, fn, tn (floats: expected counts are fractional)


class Estimate(BaseModel):
    """A point estimate with a percentile-bootstrap interval (None where undefined, e.g. one class only)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


def counts(y_true: Sequence[bool], y_pred: Sequence[bool]) -> Counts:
    truth = np.asarray(y_true, dtype=bool)
    pred = np.asarray(y_pred, dtype=bool)
    return (
        float(np.sum(truth & pred)),
        float(np.sum(~truth & pred)),
        float(np.sum(truth & ~pred)),
        float(np.sum(~truth & ~pred)),
    )


def rates(tp: float, fp: float, fn: float, tn: float) -> dict[str, float | None]:
    """Accuracy, balanced accuracy, F1 (accept is the positive class), FPR and FNR from (expected) counts."""
    positives, negatives = tp + fn, fp + tn
    total = positives + negatives
    tpr = tp / positives if positives else None
    tnr = tn / negatives if negatives else None
    return {
        "accuracy": (tp + tn) / total if total else None,
        "balanced_accuracy": (tpr + tnr) / 2 if tpr is not None and tnr is not None else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else None,
        "fpr": fp / negatives if negatives else None,
        "fnr": fn / positives if positives else None,
    }


def classification(y_true: Sequence[bool], y_pred: Sequence[bool]) -> dict[str, float | None]:
    return rates(*counts(y_true, y_pred))


def roc_auc(y_true: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Probability that a random accepted paper scores above a random rejected one (ties count half)."""
    from scipy.stats import rankdata

    truth = np.asarray(y_true, dtype=bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if not positives or not negatives:
        return None
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho; None with fewer than 3 pairs or a constant side."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    rho = spearmanr(np.asarray(x, dtype=float), np.asarray(y, dtype=float)).statistic
    return float(rho) if np.isfinite(rho) else None


def krippendorff_alpha_interval(units: Sequence[Sequence[float | None]]) -> float | None:
    """Krippendorff's alpha, interval metric: 1 - observed/expected disagreement over pairable values.

    `units` holds one list of ratings per paper (None: missing). Units with fewer than two ratings are not
    pairable and are ignored. None when there is no pairable unit or no variation at all.
    """
    pairable = [np.asarray([v for v in unit if v is not None], dtype=float) for unit in units]
    pairable = [unit for unit in pairable if len(unit) >= 2]
    if not pairable:
        return None

    def ordered_pair_sum(values: np.ndarray) -> float:  # sum over i != j of (v_i - v_j)^2
        return float(2 * (len(values) * np.sum(values**2) - np.sum(values) ** 2))

    total = sum(len(unit) for unit in pairable)
    observed = sum(ordered_pair_sum(unit) / (len(unit) - 1) for unit in pairable) / total
    expected = ordered_pair_sum(np.concatenate(pairable)) / (total * (total - 1))
    if expected == 0:
        return None
    return 1 - observed / expected


def human_baseline_counts(
    accepted: Sequence[bool], recommendations: Sequence[Sequence[int]], threshold: float
) -> Counts:
    """Expected confusion counts when one human per paper, chosen uniformly, decides by recommendation >= threshold.

    The expectation is exact: a paper contributes the fraction of its humans who would accept. Rates that are
    linear in the counts (accuracy, balanced accuracy, FPR, FNR) are therefore exact averages over the choice of
    human; F1 is computed from the expected counts.
    """
    tp = fp = fn = tn = 0.0
    for truth, recs in zip(accepted, recommendations, strict=True):
        share = sum(rec >= threshold for rec in recs) / len(recs)
        if truth:
            tp, fn = tp + share, fn + 1 - share
        else:
            fp, tn = fp + share, tn + 1 - share
    return tp, fp, fn, tn


def bootstrap(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float | None, float | None]:
    """Percentile interval of `statistic(indices)` over resamples of the n items with replacement.

    Resamples where the statistic is undefined are dropped; with fewer than half defined, no interval.
    """
    if n < 2 or resamples < 1:
        return None, None
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, size=n)) for _ in range(resamples)]
    defined = np.asarray([value for value in values if value is not None], dtype=float)
    if len(defined) < resamples / 2:
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def estimate(
    statistic: Callable[[np.ndarray], float | None], n: int, *, resamples: int = 1000, seed: int = 0
) -> Estimate:
    """The statistic on all n items, with its bootstrap interval."""
    value = statistic(np.arange(n))
    if value is None:
        return Estimate(value=None)
    low, high = bootstrap(statistic, n, resamples=resamples, seed=seed)
    return Estimate(value=value, ci_low=low, ci_high=high)
