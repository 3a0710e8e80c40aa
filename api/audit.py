"""The audit log: who (an API key's id) did what, when, to which object.

`record` adds an entry in the caller's transaction, so an action and its entry are committed (or rolled
back) together. The table is append only (migration 0008's triggers refuse UPDATE and DELETE).

An entry names its object (`target`: "batch:12", "alert:al-3f2c…", "model:v3", "key:5") and carries
a small `detail` of counts, flags and versions. Never personal data: a note is free text, so only its
length is kept; a file name may hold a customer's name, so it is not kept either. `record` refuses
nested values, long strings and strings with spaces, where free text would hide (a guard against
mistakes: a caller still passes only counts, flags, versions and field names).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.tables import AuditEntry

Action = Literal[
    "batch.upload",
    "alert.acknowledge",
    "alert.resolve",
    "model.promote",
    "model.rollback",
    "key.create",
    "key.revoke",
    "field.reveal",
]
ACTIONS: tuple[str, ...] = get_args(Action)
# A detail string is a version, a role, a kind or a time; anything longer is free text.
MAX_DETAIL_TEXT = 64
# ... and has no spaces: a sentence (a note, an address) does.
_FREE_TEXT = re.compile(r"[\s\x00-\x1f]")
MAX_TARGET = 255  # audit_log.target
DetailValue = str | int | float | bool | None


class AuditDetailError(ValueError):
    """An audit entry that could carry free text (personal data): a nested or long value."""


def _check(action: str, target: str, detail: Mapping[str, DetailValue]) -> None:
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r}: expected one of {', '.join(ACTIONS)}")
    if not target or len(target) > MAX_TARGET:
        raise ValueError(f"audit target: 1 to {MAX_TARGET} characters ({len(target)} given)")
    for name, value in detail.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise AuditDetailError(
                f"audit detail {name!r}: {type(value).__name__} given; only numbers, flags and short strings "
                "(store the length of a text, never the text)"
            )
        if isinstance(value, str) and (len(value) > MAX_DETAIL_TEXT or _FREE_TEXT.search(value)):
            raise AuditDetailError(
                f"audit detail {name!r}: a string of {len(value)} characters with spaces or over "
                f"{MAX_DETAIL_TEXT} reads as free text; store the length of a text, never the text"
            )


def record(
    session: Session,
    key_id: str | int | None,
    action: str,
    target: str,
    detail: Mapping[str, DetailValue] | None = None,
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction (committed with it) and return it.

    `key_id` is the acting key's api_keys id (an int, or its decimal text), None for the CLI on the
    machine; never the key itself. `action` is one of ACTIONS; `target` names the object
    ("batch:12"); `detail` holds counts, flags and short strings only (AuditDetailError otherwise).
    """
    detail = dict(detail or {})
    _check(action, target, detail)
    if isinstance(key_id, str):
        if not key_id.isdecimal():
            raise ValueError(f"audit key_id {key_id!r}: the key's numeric id (api_keys.id), never the key")
        key_id = int(key_id)
    entry = AuditEntry(at=at or datetime.now(UTC), key_id=key_id, action=action, target=target, detail=detail)
    session.add(entry)
    return entry


def record_apart(
    factory: sessionmaker[Session],
    key_id: str | int | None,
    action: str,
    target: str,
    detail: Mapping[str, DetailValue] | None = None,
) -> None:
    """`record` in a transaction of its own, for an action committed by a core function that opens its
    own session (an upload, a model registry change) and has nothing left to commit it with."""
    with factory() as session, session.begin():
        record(session, key_id, action, target, detail)


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC (without a zone: UTC already); one beyond the calendar's ends in UTC (year 1
    at +01:00) is that end."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == datetime.min.year else datetime.max).replace(tzinfo=UTC)


def entries(
    session: Session,
    *,
    key_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[AuditEntry]]:
    """(how many entries match, a page of them newest first): of key `key_id`, of `action`, at or after
    `since` and before `until` (without a zone: UTC)."""
    conditions = []
    if key_id is not None:
        conditions.append(AuditEntry.key_id == key_id)
    if action is not None:
        conditions.append(AuditEntry.action == action)
    if since is not None:
        conditions.append(AuditEntry.at >= _utc(since))
    if until is not None:
        conditions.append(AuditEntry.at < _utc(until))
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    page = session.scalars(
        select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    ).all()
    return total, list(page)
