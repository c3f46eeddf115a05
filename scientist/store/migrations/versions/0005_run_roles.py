"""Each run's models by role (the agent's and its own reviewer's); additive: two nullable columns.

Why: with role models a run's quality is written by one model and graded by another; a leaderboard or a study that
groups by `model` alone would mix runs whose self-review came from different reviewers.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("agent_model", sa.String(200), nullable=True))
    op.add_column("runs", sa.Column("review_model", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "review_model")
    op.drop_column("runs", "agent_model")
