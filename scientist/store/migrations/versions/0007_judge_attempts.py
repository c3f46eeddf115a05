"""A judge verdict's attempts and seed offset (`judge --retry-failed [--reseed]`); additive: two columns.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("judgements", sa.Column("attempts", sa.Integer, nullable=False, server_default="1"))
    op.add_column("judgements", sa.Column("seed_offset", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("judgements", "seed_offset")
    op.drop_column("judgements", "attempts")
