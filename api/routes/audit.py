"""The audit log (admin only): who did what, when, to which object (api.audit)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.audit import entries
from api.deps import AdminKey, SessionDep
from api.routes import problems
from api.schemas.audit import AuditAction, AuditPageOut
from api.schemas.base import IsoMoment

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPageOut, responses=problems(401, 403, 422))
def audit_log(
    session: SessionDep,
    _key: AdminKey,
    key_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="only what this key did")] = None,
    action: Annotated[AuditAction | None, Query(description="only this action")] = None,
    since: Annotated[IsoMoment | None, Query(description="at or after this time (ISO; without a zone: UTC)")] = None,
    until: Annotated[IsoMoment | None, Query(description="before this time (ISO; without a zone: UTC)")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Entries newest first: uploads, alert acknowledgements and resolutions, model promotions and
    rollbacks, keys created and revoked, encrypted fields revealed. `since` after `until` matches
    nothing."""
    total, page = entries(session, key_id=key_id, action=action, since=since, until=until, offset=offset, limit=limit)
    items = [
        {"id": e.id, "at": e.at, "key_id": e.key_id, "action": e.action, "target": e.target, "detail": e.detail}
        for e in page
    ]
    return {"total": total, "offset": offset, "limit": limit, "items": items}
