"""Probe cells that failed after their retries; additive: a new table only.

Why a table of its own rather than rows in `probe_results`: a failed cell has no scores, and a row there would be
averaged into the report as zeros. Here it is counted per reason beside the scores instead.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("suite", sa.String(200), nullable=False, index=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("probe", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failed_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("suite", "key"),
    )


def downgrade() -> None:
    op.drop_table("probe_failures")
