"""The identifiers an item keeps for call-backs (Result.protected): sealed per field and item under the
service's key when stored, opened only for a role in Settings.reveal_roles, and each opening audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.crypto import Keyring
from api.tables import Item


def _context(batch_id: int, row_index: int, field: str) -> str:
    return f"item:{batch_id}:{row_index}:{field}"


def seal(keys: Keyring, batch_id: int, row_index: int, fields: Mapping[str, str]) -> dict[str, Any] | None:
    """Each field's value as a token bound to its item and field; None when there is nothing to keep."""
    if not fields:
        return None
    return {name: keys.encrypt_text(value, _context(batch_id, row_index, name)) for name, value in fields.items()}


def unseal(keys: Keyring, batch_id: int, row_index: int, sealed: Mapping[str, Any] | None) -> dict[str, str]:
    """The fields' values (raises api.crypto.DecryptError when a token does not open)."""
    return {
        name: keys.decrypt_text(str(token), _context(batch_id, row_index, name))
        for name, token in (sealed or {}).items()
    }


def reseal(keys: Keyring, batch_id: int, row_index: int, sealed: Mapping[str, Any]) -> dict[str, Any]:
    """The tokens under the current key (key rotation)."""
    return {name: keys.rotate(str(token), _context(batch_id, row_index, name)) for name, token in sealed.items()}


def rotate_all(factory: sessionmaker[Session], keys: Keyring, chunk: int = 1000) -> int:
    """Re-seal every stored item's identifiers under the current key, a chunk per transaction; the
    number of items changed. Safe to run again (and while the service runs)."""
    changed, after = 0, 0
    while True:
        with factory() as session, session.begin():
            rows = session.execute(
                select(Item.id, Item.batch_id, Item.row_index, Item.protected)
                .where(Item.id > after, Item.protected.is_not(None))
                .order_by(Item.id)
                .limit(chunk)
            ).all()
            if not rows:
                return changed
            for pk, batch_id, row_index, sealed in rows:
                fresh = reseal(keys, batch_id, row_index, sealed)
                if fresh != sealed:
                    session.execute(update(Item).where(Item.id == pk).values(protected=fresh))
                    changed += 1
            after = rows[-1].id
