"""Studies and their cells; a run may belong to a cell (additive: existing runs keep cell_id NULL).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "study_cells",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.UniqueConstraint("study_id", "key"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cell_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("sample_index", sa.Integer, nullable=True))
        batch.create_index("ix_runs_cell_id", ["cell_id"])
        batch.create_foreign_key("fk_runs_cell_id_study_cells", "study_cells", ["cell_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("fk_runs_cell_id_study_cells", type_="foreignkey")
        batch.drop_index("ix_runs_cell_id")
        batch.drop_column("sample_index")
        batch.drop_column("cell_id")
    op.drop_table("study_cells")
    op.drop_table("studies")
