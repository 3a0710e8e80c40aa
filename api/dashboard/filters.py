"""The filters the dashboard's views share (date range, segment, dimension), as the forms send them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query
from sqlalchemy.orm import Session

from api.dashboard import tallies
from api.dashboard.web import DIMENSION_NAMES

DimensionQ = Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# Dates as the filter form sends them: "" when left empty.
DayQ = Annotated[str, Query(alias="from", pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
UntilQ = Annotated[str, Query(alias="to", pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
SegmentQ = Annotated[str, Query(max_length=100, description="dimension:value, e.g. region:华东")]


def segment(raw: str) -> tuple[str, str] | None:
    """("region", "华东") of "region:华东"; None for "" or anything else."""
    name, sep, value = raw.partition(":")
    if not sep or name not in tallies.SEGMENTS or not value.strip():
        return None
    return name, value.strip()


def day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def iso(raw: str) -> str | None:
    found = day(raw)
    return found.isoformat() if found else None


def segment_choices(session: Session) -> list[tuple[str, str]]:
    """(value, 名称) of each segment the stored items have, for the filter's menu (most items first)."""
    return [
        (f"{name}:{value}", f"{DIMENSION_NAMES[name]}：{value}")
        for name, values in tallies.segment_values(session).items()
        for value, _ in values
    ]
