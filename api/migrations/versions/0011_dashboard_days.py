"""dashboard figures: per batch, day and segment, the items, negatives, NPS split and CSAT; items by item id

Revision ID: 0011
Revises: 0010 (0010_batch_chunks.py)
Create Date: 2026-12-04

`dashboard_days` holds what the dashboard's 总览 and 趋势's NPS heatmap sum (api.dashboard.tallies),
written with the heatmap aggregates as each batch completes; the batches completed before this
revision are tallied here from their stored results. `ix_items_item_id` finds the call of a follow-up
or an alert example, which name the item by its id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("week", sa.String(length=8), nullable=True),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("negatives", sa.Integer(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("passives", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.Column("csat_sum", sa.Float(), nullable=False),
        sa.Column("csat_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dashboard_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_days_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_dashboard_days_segment", ["dimension", "value", "day"], unique=False)
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_item_id", ["item_id"], unique=False)

    # The code that tallies a completing batch; a later revision that changes this table fills it itself.
    from api.dashboard.tallies import backfill

    backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_item_id")
    with op.batch_alter_table("dashboard_days", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_days_segment")
        batch_op.drop_index(batch_op.f("ix_dashboard_days_batch_id"))
    op.drop_table("dashboard_days")
