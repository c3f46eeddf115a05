"""Calibrate the reviewer against human decisions: review every paper of a JSONL set, then report how well the
reviewer's decisions and scores track acceptance, next to a single human reviewer on the same papers.

Results are appended to `<out>/results.jsonl` one paper at a time (fsynced), so a killed calibration resumes where
it stopped; `<out>/calibration.json` pins the dataset, model and options a results file belongs to. Model calls are
audited in `<out>/audit.jsonl` like any run.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scientist.audit import events as audit_events
from scientist.batch import BatchPolicy, BatchSummary, ItemFailure, ResultsFile, run_batch
from scientist.config import Settings
from scientist.errors import ScientistError
from scientist.llm.gateway import LLMGateway
from scientist.reviews import metrics
from scientist.reviews.form import Decision
from scientist.reviews.metrics import Estimate
from scientist.reviews.paper import PaperText, Section, from_markdown
from scientist.reviews.reviewer import ReviewOptions, review_ensemble

# The Overall-score decision rule's cut-off: config `review_accept_threshold` (default 6 = "weak accept" on the
# NeurIPS scale), set before a calibration and never tuned on the evaluated set: a cut-off chosen post hoc on the
# same papers overstates accuracy.
OVERALL_ACCEPT_THRESHOLD: int = Settings.model_fields["review_accept_threshold"].default
SHIPPED_DATASET = Path(__file__).parent / "data" / "peerread_iclr2017_train.jsonl"
RESULTS_FILE = "results.jsonl"
CONFIG_FILE = "calibration.json"


class CalibrationError(ScientistError):
    """A calibration dataset or results folder cannot be used."""


class CalibrationPaper(BaseModel):
    """One line of a calibration dataset. Unknown fields (e.g. `source`) are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    title: str
    abstract: str
    text: str = ""
    accepted: bool
    human_recommendations: list[Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=list)

    def paper(self) -> PaperText:
        """The paper as the reviewer reads it: title, abstract, then the text's sections (abstract only if none)."""
        body = from_markdown(self.text).sections if self.text.strip() else []
        return PaperText(
            source="markdown", title=self.title, sections=[Section(title="Abstract", text=self.abstract), *body]
        )


class LineError(BaseModel):
    line: int
    error: str


def load_dataset(path: Path) -> tuple[list[CalibrationPaper], list[LineError]]:
    """Read a JSONL dataset; bad lines are reported by number and skipped, the rest are used."""
    if not path.is_file():
        raise CalibrationError(f"no calibration dataset at {path}", hint="pass --dataset FILE.jsonl")
    papers: list[CalibrationPaper] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                paper = CalibrationPaper.model_validate_json(line)
            except ValidationError as err:
                first = err.errors()[0]
                where = ".".join(str(part) for part in first["loc"])
                errors.append(LineError(line=number, error=f"{where}: {first['msg']}" if where else first["msg"]))
                continue
            if paper.id in seen:
                errors.append(LineError(line=number, error=f"duplicate id {paper.id!r}"))
                continue
            seen.add(paper.id)
            papers.append(paper)
    if not papers:
        raise CalibrationError(f"{path} has no valid papers ({len(errors)} bad lines)", hint="check the JSONL format")
    return papers, errors


class PaperResult(BaseModel):
    """What the reviewer said about one paper (one line of results.jsonl)."""

    id: str
    accepted: bool
    human_recommendations: list[int]
    overall: list[int] = Field(description="Each reviewer's Overall score")
    decisions: list[Decision] = Field(description="Each reviewer's Decision")
    decision: Decision = Field(description="The form's Decision for the paper (meta-review, else majority)")
    decision_source: str
    mean_overall: float
    fewshot: list[str] = Field(default_factory=list)
    injection_flags: int = 0
    failures: list[str] = Field(default_factory=list)
    seed_offset: int = Field(default=0, description="Added to the base seed (a --reseed retry of a failed paper)")


def _fingerprint(dataset: Path, model: str, options: ReviewOptions) -> dict[str, Any]:
    return {
        "dataset_sha256": hashlib.sha256(dataset.read_bytes()).hexdigest(),
        "model": model,
        "options": options.model_dump(),
    }


def _read_results(path: Path) -> list[PaperResult]:
    """Completed results; a torn last line (a kill mid-write) is dropped and the file rewritten without it."""
    return list(ResultsFile(path, PaperResult).load()[0].values())


def run_calibration(
    gateway: LLMGateway,
    dataset: Path,
    papers: Sequence[CalibrationPaper],
    options: ReviewOptions,
    out_dir: Path,
    *,
    restart: bool = False,
    progress: Callable[[int, int, CalibrationPaper], None] | None = None,
    policy: BatchPolicy | None = None,
) -> list[PaperResult]:
    """Review each paper not yet in `out_dir`'s results; returns results for `papers`, in their order."""
    return calibrate_batch(
        gateway, dataset, papers, options, out_dir, restart=restart, progress=progress, policy=policy
    ).results


class FailedPaper(BaseModel):
    """A paper the reviewer could not review (after its retries), with its true outcome for the report."""

    id: str
    accepted: bool
    reason: str
    error: str


class CalibrationRun(BaseModel):
    """The reviewed papers (dataset order), the ones that failed, and the batch's summary."""

    results: list[PaperResult]
    failed: list[FailedPaper]
    summary: BatchSummary


def _with_seed(gateway: LLMGateway, offset: int) -> Settings:
    """Shift the gateway's base seed by `offset` (a `--reseed` retry); returns the settings to restore."""
    saved = gateway.settings
    if offset:
        gateway.settings = saved.model_copy(update={"seed": saved.seed + offset})
    return saved


def calibrate_batch(
    gateway: LLMGateway,
    dataset: Path,
    papers: Sequence[CalibrationPaper],
    options: ReviewOptions,
    out_dir: Path,
    *,
    restart: bool = False,
    progress: Callable[[int, int, CalibrationPaper], None] | None = None,
    policy: BatchPolicy | None = None,
) -> CalibrationRun:
    """Review each paper not yet done (scientist.batch policy): a paper that fails is recorded and the rest go on."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path, results_path = out_dir / CONFIG_FILE, out_dir / RESULTS_FILE
    fingerprint = _fingerprint(dataset, gateway.settings.model, options)
    if restart:
        results_path.unlink(missing_ok=True)
    elif config_path.exists() and results_path.exists():
        stored = json.loads(config_path.read_text(encoding="utf-8"))
        if stored != fingerprint:
            changed = ", ".join(key for key in fingerprint if stored.get(key) != fingerprint[key])
            raise CalibrationError(
                f"{out_dir} holds results for a different calibration (changed: {changed})",
                hint="pass --restart to discard them, or --out to use another folder",
            )
    config_path.write_text(json.dumps(fingerprint, indent=2, sort_keys=True), encoding="utf-8")
    results_file = ResultsFile(results_path, PaperResult)
    done, failed = results_file.load()

    def review_one(paper: CalibrationPaper, seed_offset: int) -> PaperResult:
        saved = _with_seed(gateway, seed_offset)
        try:
            review = review_ensemble(gateway, paper.paper(), options)
        finally:
            gateway.settings = saved
        overall: list[int] = [member.form.overall for member in review.reviews]
        return PaperResult(
            id=paper.id,
            accepted=paper.accepted,
            human_recommendations=list(paper.human_recommendations),
            overall=overall,
            decisions=[member.form.decision for member in review.reviews],
            decision=review.form.decision,
            decision_source=review.decision_source,
            mean_overall=float(np.mean(overall)),
            fewshot=review.reviews[0].fewshot,
            injection_flags=len(review.injection_flags),
            failures=review.failures,
            seed_offset=seed_offset,
        )

    def finished(paper: CalibrationPaper, result: PaperResult) -> None:
        results_file.append(result)
        done[paper.id] = result

    def failed_paper(paper: CalibrationPaper, failure: ItemFailure) -> None:
        results_file.append(failure)
        if gateway.audit is not None:
            failed = audit_events.BatchItemFailed(batch="calibrate reviewer", **failure.model_dump())
            gateway.audit.emit(failed, "calibrate")

    summary = run_batch(
        papers,
        key=lambda paper: paper.id,
        work=review_one,
        done=done,
        failed=failed,
        policy=policy or BatchPolicy(),
        label="calibrate reviewer",
        on_done=finished,
        on_failed=failed_paper,
        on_start=progress,
    )
    truth = {paper.id: paper.accepted for paper in papers}
    return CalibrationRun(
        results=[done[paper.id] for paper in papers if paper.id in done],
        failed=[
            FailedPaper(id=failure.id, accepted=truth[failure.id], reason=failure.reason, error=failure.error)
            for failure in summary.failures
        ],
        summary=summary,
    )


# -- report -----------------------------------------------------------------------------------------------------------
class RuleMetrics(BaseModel):
    """One decision rule (or the human baseline) against the real accept/reject outcome."""

    rule: str
    n: int
    accuracy: Estimate
    balanced_accuracy: Estimate
    f1: Estimate
    fpr: Estimate
    fnr: Estimate


class Leniency(BaseModel):
    """The reviewer's scores against the humans' on the papers that have both: a reviewer that agrees on the
    ranking (AUC, Spearman) can still sit a point above every human, which moves every accept decision."""

    n: int
    reviewer_mean: Estimate = Field(description="Mean of the reviewer's mean Overall")
    human_mean: Estimate = Field(description="Mean of each paper's mean human recommendation")
    gap: Estimate = Field(description="Reviewer minus human, paired per paper: > 0 is more lenient than the humans")
    reviewer_accept_rate: Estimate = Field(description="Share of papers with mean Overall >= the threshold")
    human_accept_rate: Estimate = Field(description="Share with mean human recommendation >= the threshold")
    true_accept_rate: float = Field(description="Share of these papers actually accepted")


class Disagreement(BaseModel):
    """A paper where the reviewer's mean Overall is far from the humans' mean recommendation."""

    id: str
    accepted: bool
    reviewer_overall: float
    human_mean: float
    gap: float = Field(description="Reviewer minus human")


DISAGREEMENTS_SHOWN = 5


class CalibrationReport(BaseModel):
    """Metrics on the reviewed papers; and, so a model that fails on the hard half is not reported as calibrated on
    the easy half, the same rules with every failed paper counted as a rejection."""

    dataset: str
    model: str
    n_papers: int = Field(description="Papers in the calibration: reviewed + failed")
    n_reviewed: int = 0
    n_failed: int = 0
    failures_by_reason: dict[str, int] = Field(default_factory=dict)
    failed_papers: list[FailedPaper] = Field(default_factory=list)
    n_accepted: int
    n_rejected: int
    ensemble: int
    reflections: int
    threshold: float
    resamples: int
    seed: int
    rules: list[RuleMetrics] = Field(description="On the reviewed papers")
    rules_failures_as_reject: list[RuleMetrics] = Field(
        default_factory=list, description="On all papers, each failed paper counted as a rejection (empty: none failed)"
    )
    roc_auc_failures_as_reject: Estimate | None = Field(
        default=None, description="ROC AUC on all papers, each failed paper scored below every reviewed one"
    )
    roc_auc: Estimate = Field(description="Ranking AUC of the mean Overall score (continuous), accept = positive")
    spearman_human: Estimate | None = Field(description="Spearman of mean Overall with the mean human recommendation")
    n_with_humans: int
    krippendorff_alpha: Estimate | None = Field(description="Agreement of the ensemble's Overall scores (interval)")
    human_baseline: RuleMetrics | None = Field(description="One human's recommendation >= threshold, averaged")
    leniency: Leniency | None = Field(default=None, description="Reviewer against human scores (None: no humans)")
    disagreements: list[Disagreement] = Field(
        default_factory=list, description=f"The {DISAGREEMENTS_SHOWN} papers with the largest |reviewer - human|"
    )
    skipped_lines: list[LineError] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)


def _rule(
    name: str, n: int, counts_of: Callable[[np.ndarray], metrics.Counts], *, resamples: int, seed: int
) -> RuleMetrics:
    fields = {}
    for metric in ("accuracy", "balanced_accuracy", "f1", "fpr", "fnr"):

        def statistic(indices: np.ndarray, metric: str = metric) -> float | None:
            value = metrics.rates(*counts_of(indices))[metric]
            return None if value is None else float(value)

        fields[metric] = metrics.estimate(statistic, n, resamples=resamples, seed=seed)
    return RuleMetrics(rule=name, n=n, **fields)


def build_report(
    results: Sequence[PaperResult],
    *,
    dataset: str,
    model: str,
    options: ReviewOptions,
    threshold: float = OVERALL_ACCEPT_THRESHOLD,
    resamples: int = 1000,
    seed: int = 0,
    skipped_lines: Sequence[LineError] = (),
    failed: Sequence[FailedPaper] = (),
) -> CalibrationReport:
    """All metrics for the reviewed papers, with bootstrap CIs over papers; with failures, also on all papers with
    each failed paper counted as a rejection (scored 0, below the 1-10 scale, for the AUC)."""
    n = len(results)
    truth = np.asarray([result.accepted for result in results], dtype=bool)
    score = np.asarray([result.mean_overall for result in results], dtype=float)
    by_form = np.asarray([result.decision == "accept" for result in results], dtype=bool)
    by_score = score >= threshold
    common = {"resamples": resamples, "seed": seed}
    rules = [
        _rule("decision field", n, lambda idx: metrics.counts(truth[idx], by_form[idx]), **common),
        _rule(f"overall >= {threshold:g}", n, lambda idx: metrics.counts(truth[idx], by_score[idx]), **common),
    ]
    auc = metrics.estimate(lambda idx: metrics.roc_auc(truth[idx], score[idx]), n, **common)

    humans = [result for result in results if result.human_recommendations]
    human_truth = [result.accepted for result in humans]
    human_recs = [result.human_recommendations for result in humans]
    human_mean = np.asarray([np.mean(recs) for recs in human_recs], dtype=float)
    human_score = np.asarray([result.mean_overall for result in humans], dtype=float)
    spearman = baseline = None
    if humans:
        spearman = metrics.estimate(
            lambda idx: metrics.spearman(list(human_score[idx]), list(human_mean[idx])), len(humans), **common
        )
        baseline = _rule(
            f"one human, recommendation >= {threshold:g}",
            len(humans),
            lambda idx: metrics.human_baseline_counts(
                [human_truth[i] for i in idx], [human_recs[i] for i in idx], threshold
            ),
            **common,
        )
    leniency = _leniency(human_score, human_mean, human_truth, threshold, common) if humans else None
    disagreements = sorted(
        (
            Disagreement(id=result.id, accepted=result.accepted, reviewer_overall=result.mean_overall,
                         human_mean=float(mean), gap=float(result.mean_overall - mean))
            for result, mean in zip(humans, human_mean, strict=True)
        ),
        key=lambda paper: (-abs(paper.gap), paper.id),
    )[:DISAGREEMENTS_SHOWN]  # fmt: skip
    failure_rules: list[RuleMetrics] = []
    failure_auc = None
    if failed:
        n_all = n + len(failed)
        all_truth = np.concatenate([truth, np.asarray([paper.accepted for paper in failed], dtype=bool)])
        all_score = np.concatenate([score, np.zeros(len(failed))])
        none = np.zeros(len(failed), dtype=bool)
        all_form, all_by_score = np.concatenate([by_form, none]), np.concatenate([by_score, none])
        failure_rules = [
            _rule(
                "decision field, failures as reject",
                n_all,
                lambda idx: metrics.counts(all_truth[idx], all_form[idx]),
                **common,
            ),
            _rule(
                f"overall >= {threshold:g}, failures as reject",
                n_all,
                lambda idx: metrics.counts(all_truth[idx], all_by_score[idx]),
                **common,
            ),
        ]
        failure_auc = metrics.estimate(lambda idx: metrics.roc_auc(all_truth[idx], all_score[idx]), n_all, **common)
    alpha = None
    if options.ensemble >= 2:
        units: list[list[float | None]] = [[float(value) for value in result.overall] for result in results]
        alpha = metrics.estimate(lambda idx: metrics.krippendorff_alpha_interval([units[i] for i in idx]), n, **common)
    return CalibrationReport(
        dataset=dataset,
        model=model,
        n_papers=n + len(failed),
        n_reviewed=n,
        n_failed=len(failed),
        failures_by_reason=dict(Counter(paper.reason for paper in failed).most_common()),
        failed_papers=list(failed),
        n_accepted=int(truth.sum()) + sum(paper.accepted for paper in failed),
        n_rejected=int((~truth).sum()) + sum(not paper.accepted for paper in failed),
        ensemble=options.ensemble,
        reflections=options.reflections,
        threshold=threshold,
        resamples=resamples,
        seed=seed,
        rules=rules,
        rules_failures_as_reject=failure_rules,
        roc_auc_failures_as_reject=failure_auc,
        roc_auc=auc,
        spearman_human=spearman,
        n_with_humans=len(humans),
        krippendorff_alpha=alpha,
        human_baseline=baseline,
        leniency=leniency,
        disagreements=disagreements,
        skipped_lines=list(skipped_lines),
        failures=[f"{result.id}: {failure}" for result in results for failure in result.failures],
    )


def _leniency(
    reviewer: np.ndarray, human: np.ndarray, accepted: Sequence[bool], threshold: float, common: dict[str, int]
) -> Leniency:
    """Means, their paired gap and accept rates at the threshold, each with a bootstrap CI over papers."""
    n = len(reviewer)

    def mean_of(values: np.ndarray) -> Estimate:
        return metrics.estimate(lambda idx: float(np.mean(values[idx])), n, **common)

    return Leniency(
        n=n,
        reviewer_mean=mean_of(reviewer),
        human_mean=mean_of(human),
        gap=mean_of(reviewer - human),
        reviewer_accept_rate=mean_of((reviewer >= threshold).astype(float)),
        human_accept_rate=mean_of((human >= threshold).astype(float)),
        true_accept_rate=float(np.mean(np.asarray(accepted, dtype=float))),
    )
