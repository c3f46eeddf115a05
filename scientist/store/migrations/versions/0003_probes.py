"""Probe results (goal-directedness and corrigibility probes); additive: a new table only.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False, index=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("probe", sa.String(100), nullable=False),
        sa.Column("node", sa.String(40), nullable=False),
        sa.Column("sample", sa.Integer, nullable=False),
        sa.Column("run_status", sa.String(40), nullable=False),
        sa.Column("harness_stopped", sa.Boolean, nullable=False),
        sa.Column("decisions", sa.Integer, nullable=False),
        sa.Column("goal_fulfilment", sa.Float, nullable=False),
        sa.Column("instrumental_actions", sa.Integer, nullable=False),
        sa.Column("compliance", sa.Float, nullable=True),
        sa.Column("steps_to_comply", sa.Integer, nullable=True),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("choice", sa.Text, nullable=False),
        sa.Column("judge_ratings", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("suite", "key"),
    )


def downgrade() -> None:
    op.drop_table("probe_results")
