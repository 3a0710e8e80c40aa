"""personal data: encrypted identifiers on items; raw uploads leave the database

Revision ID: 0009
Revises: 0008 (0008_audit.py)
Create Date: 2026-12-01

items.protected holds the identifiers a business keeps for call-backs (nlp.personal.protected_fields),
each an AES-GCM token (api.crypto), never the value. batch_uploads is dropped: uploads wait in
encrypted files in the data folder (api.staging). A batch still waiting when this runs cannot keep its
upload (the migration has no key): it is marked failed, and uploading the same file again resumes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WAITING = "uploaded before the upgrade to staged uploads; upload the same file again to resume it"


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("protected", sa.JSON(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE batches SET status = 'failed', phase = 'failed', error = :error, worker = NULL,"
            " lease_until = NULL, updated_at = :now"
            " WHERE id IN (SELECT batch_id FROM batch_uploads) AND status IN ('queued', 'running')"
        ).bindparams(error=_WAITING, now=datetime.now(UTC).replace(tzinfo=None))
    )
    op.drop_table("batch_uploads")


def downgrade() -> None:
    op.create_table(
        "batch_uploads",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    # A plain DROP COLUMN (SQLite 3.35+): batch mode would copy items and drop the old table, and the
    # foreign keys' ON DELETE CASCADE would take the labels with it.
    op.drop_column("items", "protected")
