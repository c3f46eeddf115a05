"""Runs with their candidates, reviews, scores, experiments and monitor flags.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _run_fk() -> sa.Column[str]:
    return sa.Column(
        "run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("template", sa.String(200), nullable=False, index=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("variant", sa.String(100), nullable=False, index=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("status_detail", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("imported_at", sa.String(40), nullable=False),
        sa.Column("run_dir", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer),
        sa.Column("temperature", sa.Float),
        sa.Column("num_ideas", sa.Integer),
        sa.Column("llm_mode", sa.String(20)),
        sa.Column("sandbox", sa.String(40)),
        sa.Column("scaffold", sa.JSON, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("total_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("paper_path", sa.Text),
        sa.Column("review_path", sa.Text),
        sa.Column("audit_records", sa.Integer, nullable=False),
        sa.Column("audit_head", sa.String(64)),
    )
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_fk(),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("winner", sa.Boolean, nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("tokens", sa.Integer),
        sa.Column("cost_usd", sa.Float),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("run_id", "stage", "index"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_fk(),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_sha256", sa.String(64), nullable=False),
        sa.Column("form_version", sa.String(40), nullable=False),
        sa.Column("decision", sa.String(20)),
        sa.Column("overall", sa.Float),
        sa.Column("form", sa.JSON, nullable=False),
        sa.Column("path", sa.Text),
        sa.UniqueConstraint("run_id", "ordinal"),
    )
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_fk(),
        sa.Column("metric", sa.String(200), nullable=False, index=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.UniqueConstraint("run_id", "metric"),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_fk(),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("wall_time_s", sa.Float),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("final_info_path", sa.Text),
        sa.Column("protected_violations", sa.JSON, nullable=False),
        sa.UniqueConstraint("run_id", "label"),
    )
    op.create_table(
        "monitor_flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_fk(),
        sa.Column("monitor", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("source_kind", sa.String(100), nullable=False),
        sa.Column("audit_seq", sa.Integer),
        sa.Column("node", sa.String(40)),
        sa.Column("candidate_index", sa.Integer),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("monitor_flags", "experiments", "scores", "reviews", "candidates", "runs"):
        op.drop_table(table)
