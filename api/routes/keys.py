"""API keys (admin only): list, create (the key is shown once), revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import AdminKey, ServicesDep, SessionDep
from api.errors import ConflictError, NotFoundError
from api.keys import create_key
from api.routes import RowId, problems
from api.schemas import KeyCreatedOut, KeyIn, KeyOut
from api.tables import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _out(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "prefix": row.prefix,
        "role": row.role,
        "name": row.name,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    }


@router.get("", response_model=list[KeyOut], responses=problems(401, 403))
def list_keys(session: SessionDep, _key: AdminKey) -> list[dict[str, Any]]:
    """Every key (never the key itself: only its public prefix)."""
    return [_out(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id)).all()]


@router.post("", response_model=KeyCreatedOut, status_code=201, responses=problems(401, 403, 422))
def new_key(body: KeyIn, session: SessionDep, _key: AdminKey) -> dict[str, Any]:
    """A new key of `role`; the response is the only time the key is shown."""
    row, key = create_key(session, body.role, body.name)
    session.commit()
    return {**_out(row), "key": key}


@router.delete("/{key_id}", response_model=KeyOut, responses=problems(401, 403, 404, 409, 422))
def revoke_key(key_id: RowId, session: SessionDep, services: ServicesDep, caller: AdminKey) -> dict[str, Any]:
    """Revoke a key at once (its requests get 401). A key cannot revoke itself."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError(f"no key {key_id}")
    if row.id == caller.key_id:
        raise ConflictError("a key cannot revoke itself; use another admin key")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.commit()
    services.keys.clear()
    return _out(row)
