"""GET /v1/heatmap and /v1/trend over every completed batch, filtered by date range and theme (read from the
aggregates kept as batches complete: api.aggregates, api.heatmap_db)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import aggregates, heatmap_db
from api.deps import AnalystKey, ServicesDep, SessionDep
from api.errors import ApiError
from api.routes import problems
from api.schemas import HeatmapOut, TrendOut
from api.schemas.base import IsoDay

router = APIRouter(prefix="/v1", tags=["heatmap"])

DateFrom = Annotated[IsoDay | None, Query(alias="from", description="first day (ISO date), inclusive")]
DateTo = Annotated[IsoDay | None, Query(alias="to", description="last day (ISO date), inclusive")]
ThemeFilter = Annotated[
    str | None,
    Query(max_length=64, description="only the mentions of this theme id (e.g. logistics; unassigned: no theme)"),
]


class InvalidRangeError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


def _range(date_from: date | None, date_to: date | None) -> tuple[str | None, str | None]:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidRangeError(f"from ({date_from}) is after to ({date_to})")
    return (
        date_from.isoformat() if date_from is not None else None,
        date_to.isoformat() if date_to is not None else None,
    )


@router.get("/heatmap", response_model=HeatmapOut, responses=problems(401, 403, 422))
def heatmap(
    session: SessionDep,
    services: ServicesDep,
    _key: AnalystKey,
    dimension: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=aggregates.DIMENSION_CHARS,
            pattern=aggregates.DIMENSION_NAME,
            description="segment columns: tier, channel, region, product, week … (default tier)",
        ),
    ] = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    theme: ThemeFilter = None,
) -> dict[str, Any]:
    """Demand heatmap (需求热力图): themes × the values of `dimension` (tiers 钻石 → 基础, weeks in time),
    counting aspect mentions with their own polarity; each cell with mentions, items, negative share and
    its Wilson interval, mean score, priority, `sparse` (below min_mentions) and the units quoted."""
    start, end = _range(date_from, date_to)
    return heatmap_db.heatmap(session, dimension or services.settings.default_dimension, start, end, theme).to_dict()


@router.get("/trend", response_model=TrendOut, responses=problems(401, 403, 422))
def trend(
    session: SessionDep, _key: AnalystKey, date_from: DateFrom = None, date_to: DateTo = None, theme: ThemeFilter = None
) -> dict[str, Any]:
    """Negative share of each theme's mentions per ISO week (items with a date), with its interval."""
    start, end = _range(date_from, date_to)
    return heatmap_db.trend(session, start, end, theme).to_dict()
