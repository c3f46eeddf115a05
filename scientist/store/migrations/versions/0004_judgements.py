"""Judge scores (score kind `judge`, one row per run and judge settings hash); additive: a new table only.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judgements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("judge_hash", sa.String(64), nullable=False, index=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("overall", sa.Float, nullable=True),
        sa.Column("decision", sa.String(20), nullable=True),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("total_tokens", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("run_id", "judge_hash"),
    )


def downgrade() -> None:
    op.drop_table("judgements")
