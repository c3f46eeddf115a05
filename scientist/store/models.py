"""The store's tables (SQLAlchemy 2.x ORM). Alembic migrations in `migrations/versions` create them; this module
only describes them for queries, so a change here always comes with a new migration.

Why these tables: a leaderboard or a study needs, per run, its configuration (model, template, scaffold variant),
its cost, every candidate it sampled with scores (best-of-n statistics need the whole pool), its reviews and
numeric scores, its sandbox experiments, and any monitor flag that says a score may be gamed. Studies and their
cells (variant, n, seed, template, model) are tables of their own that runs point at, so a study adds rows, never
a breaking migration.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints: alembic's batch mode (SQLite ALTER TABLE) needs names to find them again.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Study(Base):
    """A grid of cells (filled by `scientist study run`, a later slice)."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[str] = mapped_column(String(40))
    cells: Mapped[list[Cell]] = relationship(back_populates="study", cascade="all, delete-orphan")


class Cell(Base):
    """One point of a study's grid; its runs (one per sample) point at it."""

    __tablename__ = "study_cells"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(100))
    n: Mapped[int] = mapped_column(Integer, default=1)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(40), default="pending")
    study: Mapped[Study] = relationship(back_populates="cells")


class Run(Base):
    """One run folder, as last imported: identity, configuration, spend, where its paper and review are."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(200), index=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    agent_model: Mapped[str | None] = mapped_column(String(200), doc="who did the research (role `agent`)")
    review_model: Mapped[str | None] = mapped_column(String(200), doc="who wrote the run's own review (`self` score)")
    variant: Mapped[str] = mapped_column(String(100), index=True, default="default")
    status: Mapped[str] = mapped_column(String(40))
    status_detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))
    imported_at: Mapped[str] = mapped_column(String(40))
    run_dir: Mapped[str] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    num_ideas: Mapped[int | None] = mapped_column(Integer)
    llm_mode: Mapped[str | None] = mapped_column(String(20))
    sandbox: Mapped[str | None] = mapped_column(String(40))
    scaffold: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    paper_path: Mapped[str | None] = mapped_column(Text)
    review_path: Mapped[str | None] = mapped_column(Text)
    audit_records: Mapped[int] = mapped_column(Integer, default=0)
    audit_head: Mapped[str | None] = mapped_column(String(64))
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("study_cells.id", ondelete="SET NULL"), index=True)
    sample_index: Mapped[int | None] = mapped_column(Integer)

    candidates: Mapped[list[Candidate]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    reviews: Mapped[list[Review]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    scores: Mapped[list[Score]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    experiments: Mapped[list[Experiment]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    flags: Mapped[list[MonitorFlag]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    judgements: Mapped[list[Judgement]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class Candidate(Base):
    """One sample of a best-of-n stage (today: the ideate node's ideas), winner marked, all kept."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("run_id", "stage", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(40))
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float)
    winner: Mapped[bool] = mapped_column(Boolean, default=False)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class Review(Base):
    """A review of the run's paper: ordinal 0 is the run's review (the consensus of an ensemble), 1..M members."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("run_id", "ordinal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200))
    prompt_sha256: Mapped[str] = mapped_column(String(64), default="")
    form_version: Mapped[str] = mapped_column(String(40), default="")
    decision: Mapped[str | None] = mapped_column(String(20))
    overall: Mapped[float | None] = mapped_column(Float)
    form: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    path: Mapped[str | None] = mapped_column(Text)


class Score(Base):
    """One number per run and metric: review fields ('overall', ...) and experiment metrics ('variant.gaming_rate').

    These are the run's own numbers, score kind `self`: its own review of its own paper. Scores of kind `judge`
    (the independent judge's, per judge settings hash) are in `judgements`."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("run_id", "metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(200), index=True)
    source: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)


class Judgement(Base):
    """The judge's review of a run's final paper (score kind `judge`), one per judge settings hash.

    status: judged (scores hold the consensus form's numbers), failed (the judge produced no valid form for this
    paper) or no_paper (the run finished without a paper). Read from `judge/<hash>/judgement.json` in the run
    folder, so a re-import keeps it."""

    __tablename__ = "judgements"
    __table_args__ = (UniqueConstraint("run_id", "judge_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    judge_hash: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    overall: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(String(20))
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    seed_offset: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[str] = mapped_column(String(40))


class Experiment(Base):
    """One sandbox run of the experiment node, with the metrics of its final_info.json (ok runs only)."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("run_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    ok: Mapped[bool] = mapped_column(Boolean)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    final_info_path: Mapped[str | None] = mapped_column(Text)
    protected_violations: Mapped[list[Any]] = mapped_column(JSON, default=list)


class MonitorFlag(Base):
    """Something a monitor or the sandbox saw that makes a run's score suspect (read from its audit log)."""

    __tablename__ = "monitor_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    monitor: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    source_kind: Mapped[str] = mapped_column(String(100))
    audit_seq: Mapped[int | None] = mapped_column(Integer)
    node: Mapped[str | None] = mapped_column(String(40))
    candidate_index: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProbeResult(Base):
    """One probed run of a probe suite (`scientist probe run`): its scores, read from the run's audit log.

    A cell whose probe did not reach the agent is a row with `reached` False (`not_reached`): kept so the report
    can count it, never averaged into a score."""

    __tablename__ = "probe_results"
    __table_args__ = (UniqueConstraint("suite", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    suite: Mapped[str] = mapped_column(String(200), index=True)
    key: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(100))
    probe: Mapped[str] = mapped_column(String(100))
    node: Mapped[str] = mapped_column(String(40))
    sample: Mapped[int] = mapped_column(Integer, default=0)
    run_status: Mapped[str] = mapped_column(String(40))
    harness_stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    decisions: Mapped[int] = mapped_column(Integer, default=0)
    goal_fulfilment: Mapped[float] = mapped_column(Float, default=0.0)
    instrumental_actions: Mapped[int] = mapped_column(Integer, default=0)
    compliance: Mapped[float | None] = mapped_column(Float, nullable=True)
    steps_to_comply: Mapped[int | None] = mapped_column(Integer, nullable=True)
    horizon: Mapped[int] = mapped_column(Integer, default=0)
    choice: Mapped[str] = mapped_column(Text, default="")
    judge_ratings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[str] = mapped_column(String(40))
    # Did the probe reach the agent (audit log: the probe before an agent model call)? False: `not_reached`, never
    # scored nor averaged; None: stored before the check existed (migration 0008), re-scored by the next `probe run`.
    reached: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class ProbeFailure(Base):
    """A probe cell that failed after its retries: counted per reason in the report, never averaged as a score.

    Removed when a retry (`probe run --retry-failed`) scores the cell."""

    __tablename__ = "probe_failures"
    __table_args__ = (UniqueConstraint("suite", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    suite: Mapped[str] = mapped_column(String(200), index=True)
    key: Mapped[str] = mapped_column(String(400))
    run_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(100))
    probe: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(60))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    failed_at: Mapped[str] = mapped_column(String(40))
