"""Alerts in the database: the engine (nlp.alerts.evaluate) runs over stored results after each batch,
and the lifecycle steps (acknowledge, resolve) are the pure functions of nlp.alerts.model. The same
pass lists the batch's answers to call back (the follow-up list, api.followups_db)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.db import serialize
from api.errors import NotFoundError
from api.followups_db import save_followups
from api.tables import AlertRow, Batch, Item
from nlp.alerts import (
    Alert,
    AlertRules,
    AlertState,
    acknowledge,
    apply_deadline,
    evaluate,
    list_followups,
    resolve,
)
from nlp.schema import Result, result_from_dict

# Rise rules compare a week with the week before; evaluating two weeks either side of a batch's dates
# gives every rule the windows it needs.
CONTEXT_DAYS = 14
# Stored results are read for the rules this many at a time.
CONTEXT_PAGE = 1000
# Alert evaluation and the lifecycle steps read the stored alerts, then write: they hold this lock
# (PostgreSQL; SQLite writes one at a time anyway) so that two workers finishing batches at once do not
# raise one condition twice, and an acknowledgement is not overwritten by a refresh read before it.
ALERTS_LOCK = "alerts"


def load_state(session: Session) -> AlertState:
    rows = session.scalars(select(AlertRow).order_by(AlertRow.seq)).all()
    return AlertState(tuple(Alert.from_dict(r.data) for r in rows))


def save_alert(session: Session, alert: Alert) -> None:
    """Insert or update one alert row from its value."""
    row = session.get(AlertRow, alert.id)
    created = datetime.fromisoformat(alert.created_at)
    updated = datetime.fromisoformat(alert.updated_at)
    if row is None:
        seq = (session.scalar(select(func.max(AlertRow.seq))) or 0) + 1
        session.add(
            AlertRow(
                id=alert.id,
                seq=seq,
                status=alert.status,
                kind=alert.kind[:16],
                # The filter columns have the lengths of their tables; the whole value is in `data`.
                theme=alert.theme[:64] if alert.theme else alert.theme,
                department=alert.department[:100],
                data=alert.to_dict(),
                created_at=created,
                updated_at=updated,
            )
        )
        return
    row.status, row.department, row.data, row.updated_at = (
        alert.status,
        alert.department[:100],
        alert.to_dict(),
        updated,
    )


def _context_results(session: Session, batch_id: int, own_only: bool = False) -> Iterator[Result]:
    """Stored results in the batch's date range widened by CONTEXT_DAYS, plus the batch's undated items
    (`own_only`: the batch's items alone), streamed a page at a time: memory does not grow with the
    results already stored in those weeks."""
    conditions = [Item.batch_id == batch_id]
    if not own_only:
        low, high = session.execute(
            select(func.min(Item.date), func.max(Item.date)).where(Item.batch_id == batch_id, Item.date.is_not(None))
        ).one()
        if low is not None and high is not None:
            start = (date.fromisoformat(low) - timedelta(days=CONTEXT_DAYS)).isoformat()
            end = (date.fromisoformat(high) + timedelta(days=CONTEXT_DAYS)).isoformat()
            conditions.append(Item.date.between(start, end))
    query = (
        select(Item.id, Item.result)
        .join(Batch, Batch.id == Item.batch_id)
        .where(or_(*conditions), or_(Batch.status == "done", Batch.id == batch_id))
        .order_by(Item.id)
        .limit(CONTEXT_PAGE)
    )
    after = 0
    while rows := session.execute(query.where(Item.id > after)).all():
        after = rows[-1].id
        yield from (result_from_dict(data) for _, data in rows)


def evaluate_after_batch(
    session: Session,
    batch_id: int,
    rules: AlertRules,
    now: datetime,
    theme_labels: Mapping[str, str] | None = None,
) -> list[Alert]:
    """Run the alert rules over the stored results around a finished batch; store and return new alerts.

    Alerts already stored are refreshed, not raised again (the engine's ids are the conditions). The
    batch's own answers that need a call back are stored in the follow-up list (`theme_labels`, id →
    label, names their themes); an answer already listed keeps its entry.
    """
    serialize(session, ALERTS_LOCK)
    state = load_state(session)
    raised, new_state = evaluate(_context_results(session, batch_id), rules, state, now)
    before = {a.id: a for a in state.alerts}
    for alert in new_state.alerts:
        if before.get(alert.id) != alert:
            save_alert(session, alert)
    own = _context_results(session, batch_id, own_only=True)
    save_followups(session, list_followups(own, rules, now, theme_labels))
    return raised


def list_alerts(session: Session, status: str | None, rules: AlertRules, now: datetime) -> list[dict[str, Any]]:
    """Alerts (newest first), deadlines checked against `now` first (escalation, expiry) and saved."""
    serialize(session, ALERTS_LOCK)
    query = select(AlertRow).order_by(AlertRow.seq.desc())
    out = []
    for row in session.scalars(query).all():
        alert = Alert.from_dict(row.data)
        checked = apply_deadline(alert, rules, now)
        if checked != alert:
            save_alert(session, checked)
        if status is None or checked.status == status:
            out.append(checked.to_dict())
    return out


def transition(session: Session, alert_id: str, action: str, note: str, now: datetime) -> dict[str, Any]:
    """Acknowledge or resolve an alert (AlertTransitionError when its status does not allow it)."""
    serialize(session, ALERTS_LOCK)
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise NotFoundError(f"no alert {alert_id!r}")
    alert = Alert.from_dict(row.data)
    changed = acknowledge(alert, note, now) if action == "acknowledge" else resolve(alert, note, now)
    save_alert(session, changed)
    return changed.to_dict()
