"""API keys (admin only): list, create (the key is shown once, optionally expiring), revoke. Creating
and revoking are in the audit log (api.keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import AdminKey, ServicesDep, SessionDep
from api.errors import ApiError, ConflictError, NotFoundError
from api.keys import KeyExpiryError, create_key
from api.keys import revoke_key as revoke_now
from api.routes import RowId, problems
from api.schemas import KeyCreatedOut, KeyIn, KeyOut
from api.tables import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class InvalidExpiryError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


def _out(row: ApiKey, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "prefix": row.prefix,
        "role": row.role,
        "name": row.name,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
        "expires_at": row.expires_at,
        "expired": row.expires_at is not None and row.expires_at <= now,
    }


@router.get("", response_model=list[KeyOut], responses=problems(401, 403))
def list_keys(session: SessionDep, _key: AdminKey) -> list[dict[str, Any]]:
    """Every key with its expiry (never the key itself: only its public prefix)."""
    now = datetime.now(UTC)
    return [_out(row, now) for row in session.scalars(select(ApiKey).order_by(ApiKey.id)).all()]


@router.post("", response_model=KeyCreatedOut, status_code=201, responses=problems(401, 403, 422))
def new_key(body: KeyIn, session: SessionDep, caller: AdminKey) -> dict[str, Any]:
    """A new key of `role`, expiring at `expires_at` if given; the response is the only time the key
    is shown. An expiry in the past or more than 10 years ahead is a 422."""
    try:
        row, key = create_key(session, body.role, body.name, body.expires_at, created_by=caller.key_id)
    except KeyExpiryError as error:
        raise InvalidExpiryError(f"expires_at: {error}") from None
    session.commit()
    return {**_out(row, datetime.now(UTC)), "key": key}


@router.delete("/{key_id}", response_model=KeyOut, responses=problems(401, 403, 404, 409, 422))
def revoke_key(key_id: RowId, session: SessionDep, services: ServicesDep, caller: AdminKey) -> dict[str, Any]:
    """Revoke a key at once (its requests get 401). A key cannot revoke itself."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFoundError(f"no key {key_id}")
    if row.id == caller.key_id:
        raise ConflictError("a key cannot revoke itself; use another admin key")
    if revoke_now(session, row, revoked_by=caller.key_id):
        session.commit()
    services.keys.clear()
    return _out(row, datetime.now(UTC))
