"""batch_chunks: the chunks of batches run by Celery workers

Revision ID: 0010
Revises: 0009 (0009_personal_data.py)
Create Date: 2026-12-04

One row per chunk of a batch that `kesheng worker` processes analyse (api.distributed): which rows of
the batch's work it covers, whether its items are committed, how often its task was delivered, the
last worker and error. Its key (batch_id, chunk) makes a redelivered chunk task find its work done.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_chunks",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("batch_id", "chunk"),
    )


def downgrade() -> None:
    op.drop_table("batch_chunks")
