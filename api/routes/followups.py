"""The follow-up list (回访清单): the single answers to call back, listed by the worker after each batch."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AnalystKey, SessionDep
from api.followups_db import list_followups
from api.routes import problems
from api.schemas import FollowupsOut
from api.schemas.base import IsoMoment

router = APIRouter(prefix="/v1/followups", tags=["followups"])


@router.get("", response_model=FollowupsOut, responses=problems(401, 403, 422))
def followups(
    session: SessionDep,
    _key: AnalystKey,
    tier: Annotated[str | None, Query(min_length=1, max_length=64, description="客户等级, e.g. 钻石")] = None,
    theme: Annotated[str | None, Query(min_length=1, max_length=64, description="theme id of the aspect")] = None,
    due_before: Annotated[
        IsoMoment | None, Query(description="only entries due before this time (ISO; without a zone: UTC)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Answers to call back, due first, then the most negative."""
    if due_before is not None and due_before.tzinfo is None:
        due_before = due_before.replace(tzinfo=UTC)
    total, items = list_followups(session, tier=tier, theme=theme, due_before=due_before, offset=offset, limit=limit)
    return {"total": total, "offset": offset, "limit": limit, "items": items}
