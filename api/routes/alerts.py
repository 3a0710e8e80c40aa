"""Alerts: list (by status), acknowledge, resolve. Raised by the worker after each batch. Acknowledging
and resolving are in the audit log with the note's length (never its text)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query

from api.alerts_db import list_alerts, transition
from api.audit import record
from api.deps import AnalystKey, ServicesDep, SessionDep
from api.errors import ApiError
from api.routes import problems
from api.schemas import AlertActionIn, AlertOut, AlertsOut
from api.schemas.alerts import RESOLVE_BODY_SCHEMA

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
AlertId = Annotated[str, Path(max_length=32, description="alert id (al-…)")]


class NoteRequiredError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


@router.get("", response_model=AlertsOut, responses=problems(401, 403, 422))
def alerts(
    session: SessionDep,
    services: ServicesDep,
    _key: AnalystKey,
    status: Annotated[Literal["open", "acknowledged", "resolved", "expired"] | None, Query()] = None,
) -> dict[str, Any]:
    """Alerts, newest first; deadlines are checked first (overdue ones escalate, then expire)."""
    items = list_alerts(session, status, services.analyzer.rules, datetime.now(UTC))
    session.commit()
    return {"total": len(items), "items": items}


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, responses=problems(401, 403, 404, 409, 422))
def acknowledge(
    alert_id: AlertId,
    session: SessionDep,
    services: ServicesDep,
    key: AnalystKey,
    body: Annotated[AlertActionIn | None, Body()] = None,
) -> dict[str, Any]:
    """open → acknowledged (the note says who took it, or the plan; personal data in it is redacted)."""
    note = services.analyzer.redact((body or AlertActionIn()).note)
    alert = transition(session, alert_id, "acknowledge", note, datetime.now(UTC))
    record(session, key.key_id, "alert.acknowledge", f"alert:{alert_id}", {"note_chars": len(note)})
    session.commit()
    return alert


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    responses=problems(401, 403, 404, 409, 422),
    openapi_extra={"requestBody": {"required": True}},
)
def resolve(
    alert_id: AlertId,
    session: SessionDep,
    services: ServicesDep,
    key: AnalystKey,
    body: Annotated[AlertActionIn | None, Body(json_schema_extra=RESOLVE_BODY_SCHEMA)] = None,
) -> dict[str, Any]:
    """open/acknowledged → resolved; needs a note saying what was done (personal data in it is redacted)."""
    note = (body or AlertActionIn()).note
    if not note.strip():
        raise NoteRequiredError("note: a resolution needs a note saying what was done")
    note = services.analyzer.redact(note)
    alert = transition(session, alert_id, "resolve", note, datetime.now(UTC))
    record(session, key.key_id, "alert.resolve", f"alert:{alert_id}", {"note_chars": len(note)})
    session.commit()
    return alert
