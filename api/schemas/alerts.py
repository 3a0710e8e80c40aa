"""Alerts: the list, one alert with its evidence and history, and the lifecycle actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import MAX_NOTE_CHARS, StrictIn

AlertStatus = Literal["open", "acknowledged", "resolved", "expired"]


class WindowOut(BaseModel):
    start: str
    end: str


class ExampleOut(BaseModel):
    id: str
    text: str
    negative_probability: float


class EvidenceOut(BaseModel):
    count: int
    negatives: int
    share: float
    threshold: float
    lower_bound: float | None = None
    examples: list[ExampleOut]
    baseline: float | None = None
    previous_count: int | None = None
    previous_negatives: int | None = None
    previous_share: float | None = None
    p_value: float | None = None
    reason: str
    # An NPS drop (kind "nps_drop"): promoters of the week and the week before, and NPS in points.
    promoters: int | None = None
    previous_promoters: int | None = None
    nps: float | None = None
    previous_nps: float | None = None


class HistoryOut(BaseModel):
    time: str
    status: AlertStatus
    note: str


class AlertOut(BaseModel):
    id: str
    rule: str
    kind: Literal["share", "rise", "nps_drop", "severe"]
    theme: str | None
    segment: dict[str, str]
    window: WindowOut
    evidence: EvidenceOut
    department: str
    deadline: str
    status: AlertStatus
    created_at: str
    updated_at: str
    history: list[HistoryOut]
    deliveries: list[dict[str, Any]]
    also_matched: list[str]
    escalated: bool
    escalated_to: str | None
    item_id: str | None


class AlertsOut(BaseModel):
    total: int
    items: list[AlertOut]


class AlertActionIn(StrictIn):
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)] = Field(
        default="", description="who acknowledges / what was done (required to resolve)"
    )


# What POST /v1/alerts/{id}/resolve requires of its body beyond AlertActionIn (acknowledge takes an
# empty note or none): a note with something in it, as the alert engine requires to resolve. The
# route keeps AlertActionIn (the dashboard calls it with one); this is added to its documented
# body, in the pattern's Python reading of "something": not only whitespace, as str.strip sees it.
RESOLVE_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["note"],
    "properties": {"note": {"type": "string", "minLength": 1, "maxLength": MAX_NOTE_CHARS, "pattern": r"\S"}},
}
