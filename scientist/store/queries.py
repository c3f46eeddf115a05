"""Read the store back: one row per run for a metric (with its flags), the metrics the store knows, and the copy
of a run's audit head kept when it was recorded."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select

from scientist.audit.log import Witness
from scientist.reviews.form import SCORE_FIELDS
from scientist.store.engine import Store
from scientist.store.models import Judgement, MonitorFlag, Run, Score

GROUPINGS = ("model", "variant", "template")


NOTE_SEVERITIES = ("info", "low", "medium")  # logged, not acted on by the default monitor policy


class FlagView(BaseModel):
    monitor: str
    severity: str
    evidence: str

    @property
    def serious(self) -> bool:
        """High or critical (or an unknown severity: fail closed). Only these make a run "flagged" on the board;
        lower ones (e.g. a number the writer removed because no run produced it) are listed as notes, or every run
        of a small model would be flagged and the flag would stop meaning "look at this run"."""
        return self.severity not in NOTE_SEVERITIES


class RunScore(BaseModel):
    """One run's value of the chosen metric, with what the leaderboard shows beside it."""

    run_id: str
    topic: str
    model: str
    variant: str
    template: str
    status: str
    value: float
    cost_usd: float
    total_tokens: int
    run_dir: str
    paper_path: str | None
    review_path: str | None
    flags: list[FlagView] = Field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return any(flag.serious for flag in self.flags)

    def group(self, by: str) -> str:
        return str(getattr(self, by))


def known_metrics(store: Store) -> list[str]:
    """Review score fields always; experiment metrics that some stored run has."""
    with store.session() as session:
        stored = set(session.scalars(select(Score.metric).distinct()))
    return list(SCORE_FIELDS) + sorted(stored - set(SCORE_FIELDS))


def run_scores(store: Store, metric: str, judge_hash: str | None = None) -> list[RunScore]:
    """Every run that has `metric`, newest first, with its monitor flags: score kind `self` (the run's own review
    and metrics), or with `judge_hash` kind `judge` (that judge's verdicts)."""
    with store.session() as session:
        rows: list[tuple[Run, float]]
        if judge_hash is None:
            rows = [(run, value) for run, value in session.execute(
                select(Run, Score.value).join(Score, Score.run_id == Run.id).where(Score.metric == metric)
                .order_by(Run.created_at.desc(), Run.id)
            ).all()]  # fmt: skip
        else:
            verdicts = session.execute(
                select(Run, Judgement.scores).join(Judgement, Judgement.run_id == Run.id)
                .where(Judgement.judge_hash == judge_hash).order_by(Run.created_at.desc(), Run.id)
            ).all()  # fmt: skip
            rows = [(run, scores[metric]) for run, scores in verdicts if isinstance(scores.get(metric), int | float)]
        ids = [run.id for run, _ in rows]
        flags: dict[str, list[FlagView]] = {run_id: [] for run_id in ids}
        if ids:
            query = select(MonitorFlag).where(MonitorFlag.run_id.in_(ids)).order_by(MonitorFlag.id)
            for flag in session.scalars(query):
                flags[flag.run_id].append(
                    FlagView(monitor=flag.monitor, severity=flag.severity, evidence=flag.evidence[:300])
                )
        return [
            RunScore(
                run_id=run.id, topic=run.topic, model=run.model, variant=run.variant, template=run.template,
                status=run.status, value=value, cost_usd=run.cost_usd, total_tokens=run.total_tokens,
                run_dir=run.run_dir, paper_path=run.paper_path, review_path=run.review_path, flags=flags[run.id],
            )
            for run, value in rows
        ]  # fmt: skip


def audit_witness(store: Store, run_id: str) -> Witness | None:
    """The audit head the store saved for `run_id` (None: not recorded, or recorded without its log)."""
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None or not run.audit_head or not run.audit_records:
            return None
        return Witness(records=run.audit_records, head_hash=run.audit_head, source=f"the run store ({store.where})")


def judged_runs(store: Store, judge_hash: str) -> int:
    """How many runs this judge scored (a verdict with a filled form)."""
    with store.session() as session:
        query = select(Judgement.id).where(Judgement.judge_hash == judge_hash, Judgement.status == "judged")
        return len(list(session.scalars(query)))
