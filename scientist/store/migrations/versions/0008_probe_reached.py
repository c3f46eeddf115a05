"""Whether a probe cell's perturbation reached the agent (`probe_results.reached`); additive: one column.

NULL for the rows stored before: their delivery was never checked, so the report keeps them out of the means and
the next `scientist probe run` of their suite re-scores them from their runs (no new agent run).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("probe_results", sa.Column("reached", sa.Boolean, nullable=True))


def downgrade() -> None:
    op.drop_column("probe_results", "reached")
