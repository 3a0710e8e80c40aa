"""heatmap aggregates: per-cell tallies kept as batches complete, filled from the batches already done

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The tables are created empty. This revision used to fill them with the tallies of the batches already
done, by calling api.aggregates.rebuild; that code writes the tables as the models describe them now,
which revision 0005 (aspect mentions) changed, so 0005 fills them instead, from the same batches.
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
        "heatmap_cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("theme", sa.String(length=64), nullable=True),
        sa.Column("span", sa.String(length=4), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("week", sa.String(length=8), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("negatives", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("heatmap_cells", schema=None) as batch_op:
        batch_op.create_index("ix_heatmap_cells_period", ["dimension", "span", "week", "day"], unique=False)

    op.create_table(
        "heatmap_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("theme", sa.String(length=64), nullable=True),
        sa.Column("span", sa.String(length=4), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("week", sa.String(length=8), nullable=True),
        sa.Column("negative_probability", sa.Float(), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("item_pk", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("heatmap_examples", schema=None) as batch_op:
        batch_op.create_index("ix_heatmap_examples_period", ["dimension", "span", "week", "day"], unique=False)

    op.create_table(
        "heatmap_dimensions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("wide", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "heatmap_batch_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("theme", sa.String(length=64), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("heatmap_batch_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_heatmap_batch_days_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_heatmap_batch_days_day", ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("heatmap_batch_days", schema=None) as batch_op:
        batch_op.drop_index("ix_heatmap_batch_days_day")
        batch_op.drop_index(batch_op.f("ix_heatmap_batch_days_batch_id"))
    op.drop_table("heatmap_batch_days")
    op.drop_table("heatmap_dimensions")
    with op.batch_alter_table("heatmap_examples", schema=None) as batch_op:
        batch_op.drop_index("ix_heatmap_examples_period")
    op.drop_table("heatmap_examples")
    with op.batch_alter_table("heatmap_cells", schema=None) as batch_op:
        batch_op.drop_index("ix_heatmap_cells_period")
    op.drop_table("heatmap_cells")
