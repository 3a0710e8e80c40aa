"""labels: a three-way polarity as a word, and an emotion

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

`labels.label` was 0 (negative) / 1 (positive); it becomes the word (negative / neutral / positive)
and nullable, since an analyst may give only an emotion; `labels.emotion` (an English emotion class)
is added. Upgrading rewrites the stored 0/1 as negative/positive, so every existing label stays.

Downgrading cannot keep what the old schema cannot hold: labels that are neutral or that have only
an emotion are deleted (their number is logged), and the emotions of the others are dropped.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    # SQLite copies the table (batch mode) casting 0/1 to '0'/'1'; PostgreSQL casts in place.
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.alter_column(
            "label",
            existing_type=sa.Integer(),
            type_=sa.String(length=16),
            existing_nullable=False,
            nullable=True,
            postgresql_using="label::varchar(16)",
        )
        batch_op.add_column(sa.Column("emotion", sa.String(length=16), nullable=True))
    op.execute("UPDATE labels SET label = CASE label WHEN '0' THEN 'negative' WHEN '1' THEN 'positive' END")


def downgrade() -> None:
    unkept = "label IS NULL OR label NOT IN ('negative', 'positive')"
    dropped = op.get_bind().execute(sa.text(f"SELECT count(*) FROM labels WHERE {unkept}")).scalar() or 0
    if dropped:
        log.warning("deleting %d neutral or emotion-only label(s): the 0/1 label column cannot hold them", dropped)
    op.execute(f"DELETE FROM labels WHERE {unkept}")
    op.execute("UPDATE labels SET label = CASE label WHEN 'negative' THEN '0' WHEN 'positive' THEN '1' END")
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_column("emotion")
        batch_op.alter_column(
            "label",
            existing_type=sa.String(length=16),
            type_=sa.Integer(),
            existing_nullable=True,
            nullable=False,
            postgresql_using="label::integer",
        )
