"""The follow-up list in the database: entries (nlp.alerts.Followup) stored as batches complete, one per
item id, and the page GET /v1/followups reads.

An entry keeps the due time it was first listed with: the same answer analysed again (another file, a
re-upload) is the same person to call, not a new deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.store import column_text
from api.tables import FollowupRow
from nlp.alerts import Followup


def _column(value: str | None, length: int) -> str | None:
    # The filter columns have the lengths of their tables (and no NUL, see column_text); the whole
    # value is in `data`.
    return column_text(value, length) if value else value


def save_followups(session: Session, entries: Iterable[Followup]) -> int:
    """Insert the entries not stored yet (by id); returns how many were new."""
    fresh = {entry.id: entry for entry in entries}
    if not fresh:
        return 0
    known = set(session.scalars(select(FollowupRow.id).where(FollowupRow.id.in_(list(fresh)))).all())
    new = [entry for entry in fresh.values() if entry.id not in known]
    for entry in new:
        session.add(
            FollowupRow(
                id=entry.id,
                item_id=column_text(entry.item_id, 255),
                tier=_column(entry.tier, 64),
                theme=_column(entry.theme, 64),
                department=column_text(entry.department, 100),
                negative_probability=entry.negative_probability,
                due=datetime.fromisoformat(entry.due),
                data=entry.to_dict(),
                created_at=datetime.fromisoformat(entry.listed_at),
            )
        )
    return len(new)


def list_followups(
    session: Session,
    *,
    tier: str | None = None,
    theme: str | None = None,
    due_before: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[dict[str, Any]]]:
    """The total matching and one page of entries (Followup.to_dict), due first, then most negative."""
    conditions = []
    if tier is not None:
        conditions.append(FollowupRow.tier == tier)
    if theme is not None:
        conditions.append(FollowupRow.theme == theme)
    if due_before is not None:
        conditions.append(FollowupRow.due < due_before)
    total = session.scalar(select(func.count()).select_from(FollowupRow).where(*conditions)) or 0
    query = (
        select(FollowupRow.data)
        .where(*conditions)
        .order_by(FollowupRow.due, FollowupRow.negative_probability.desc(), FollowupRow.item_id, FollowupRow.id)
        .offset(offset)
        .limit(limit)
    )
    return total, [dict(data) for data in session.scalars(query).all()]
