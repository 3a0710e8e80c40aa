"""followups: the follow-up list (回访清单), single answers to call back

Revision ID: 0006
Revises: 0005 (0005_aspect_heatmap.py)
Create Date: 2026-12-02

One row per item id (nlp.alerts.Followup in `data`), with the columns GET /v1/followups filters on
(tier, theme, due) and orders by (due, negative_probability). Entries are listed as batches complete
from this revision on: batches completed before it are not listed again (their top-tier negative
answers were severe alerts then, and those alerts stay as they are).
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
        "followups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=255), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("theme", sa.String(length=64), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("negative_probability", sa.Float(), nullable=False),
        sa.Column("due", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index("ix_followups_due", ["due", "negative_probability"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_tier"), ["tier"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_theme"), ["theme"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followups_theme"))
        batch_op.drop_index(batch_op.f("ix_followups_tier"))
        batch_op.drop_index("ix_followups_due")
    op.drop_table("followups")
