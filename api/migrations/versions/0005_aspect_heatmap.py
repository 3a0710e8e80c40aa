"""aspect heatmap: the aggregates count aspect mentions (with their items) and quote the mentions' units

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15

The heatmap counts aspect mentions with their own polarity (nlp.heatmap) instead of each item once
under its top theme, so the stored tallies change meaning as well as shape: `heatmap_cells` gains
`mentions` (`items` now counts the distinct items of a row), `heatmap_examples` gains `unit` (the
aspect's place in its item, which ranks two quotes of one item), and `heatmap_batch_days` loses
`theme` (it counts a batch's items per day). The old tallies cannot be converted, so they are
emptied and every completed batch is tallied again from its stored results, through the code that
adds a batch when it completes (api.aggregates.rebuild): that code writes these tables as the models
describe them, so a later revision that changes them must fill them itself rather than keep calling it.
Results stored before aspects existed (no aspects, but themes) count one mention under their top
theme, as they were counted before.

Downgrading restores the old columns with the tables empty (the old counting is not kept here): the
earlier version's heatmap reads empty until its aggregates are rebuilt (downgrade to 0002 and upgrade
again with that version).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TABLES = ("heatmap_batch_days", "heatmap_examples", "heatmap_cells", "heatmap_dimensions")


def _empty() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")


def upgrade() -> None:
    _empty()
    # The tables are empty: SQLite copies them (recreate) to add NOT NULL columns without a default.
    with op.batch_alter_table("heatmap_cells", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("mentions", sa.Integer(), nullable=False))
    with op.batch_alter_table("heatmap_examples", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("unit", sa.Integer(), nullable=False))
    with op.batch_alter_table("heatmap_batch_days", schema=None) as batch_op:
        batch_op.drop_column("theme")

    from api.aggregates import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    log.warning("emptying the heatmap aggregates: the version of revision 0004 counts items, not mentions")
    _empty()
    with op.batch_alter_table("heatmap_batch_days", schema=None) as batch_op:
        batch_op.add_column(sa.Column("theme", sa.String(length=64), nullable=True))
    with op.batch_alter_table("heatmap_examples", schema=None) as batch_op:
        batch_op.drop_column("unit")
    with op.batch_alter_table("heatmap_cells", schema=None) as batch_op:
        batch_op.drop_column("mentions")
