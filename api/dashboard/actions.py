"""The dashboard's views that act: 告警 (acknowledge, resolve) and 批次 (upload, progress, results). Every
action calls the API's route function itself with the signed-in key's principal, so its rules (a
resolution needs a note, the upload's checks) are the API's. 通话 is in calls.py, the admin's pages in
admin.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.dashboard import queries, wording
from api.dashboard.web import UserDep, check_csrf, render, secure
from api.deps import ServicesDep, SessionDep
from api.errors import ApiError
from api.routes import RowId
from api.routes import alerts as alert_routes
from api.routes import batches as batch_routes
from api.schemas import AlertActionIn
from nlp.alerts.model import AlertTransitionError

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Note = Annotated[str, Form(max_length=2000)]
Csrf = Annotated[str, Form(max_length=100)]


def redirect_to(path: str, **params: str) -> Response:
    """A 303 to a dashboard page with a message (msg=…) or an error (err=…)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return secure(RedirectResponse(f"{path}?{query}" if query else path, status_code=303))


def _overdue(alert: dict[str, Any], now: datetime) -> bool:
    return alert["status"] in ("open", "acknowledged") and datetime.fromisoformat(alert["deadline"]) < now


@router.get("/alerts", response_class=HTMLResponse)
def alerts(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: UserDep,
    status: Annotated[str, Query(pattern="^(|open|acknowledged|resolved|expired)$")] = "",
    department: Annotated[str, Query(max_length=100)] = "",
    theme: Annotated[str, Query(max_length=64)] = "",
    overdue: Annotated[str, Query(pattern="^(|1)$")] = "",
) -> Response:
    """告警: the inbox (GET /v1/alerts), filtered by status, department, theme and overdue."""
    everything = alert_routes.alerts(session, services, user.principal, None)["items"]
    now = datetime.now(UTC)
    shown = [
        a
        for a in everything
        if (not status or a["status"] == status)
        and (not department or a["department"] == department)
        and (not theme or a["theme"] == theme)
        and (not overdue or _overdue(a, now))
    ]
    return render(
        request,
        "alerts.html",
        user,
        page="alerts",
        alerts=shown,
        total=len(everything),
        labels=queries.theme_labels(session),
        departments=sorted({a["department"] for a in everything if a["department"]}),
        themes=sorted({a["theme"] for a in everything if a["theme"]}),
        filters={"status": status, "department": department, "theme": theme, "overdue": overdue},
        now=now.isoformat(),
        overdue_ids={a["id"] for a in everything if _overdue(a, now)},
    )


def _act(session: Any, services: Any, user: Any, alert_id: str, action: str, note: str) -> tuple[str, str]:
    """(message, error) of acknowledging or resolving through the API's route functions."""
    try:
        body = AlertActionIn(note=note)
        if action == "acknowledge":
            alert_routes.acknowledge(alert_id, session, services, user.principal, body)
            return f"告警 {alert_id} 已确认", ""
        alert_routes.resolve(alert_id, session, services, user.principal, body)
        return f"告警 {alert_id} 已解决", ""
    except ValidationError:
        return "", "备注过长"
    except alert_routes.NoteRequiredError:
        return "", "解决告警需要填写处理说明"
    except (ApiError, AlertTransitionError) as error:
        session.rollback()
        return "", f"无法处理：{getattr(error, 'detail', error)}"


@router.post("/alerts/{alert_id}/{action}")
def act(
    alert_id: Annotated[str, alert_routes.AlertId],
    action: str,
    session: SessionDep,
    services: ServicesDep,
    user: UserDep,
    note: Note = "",
    csrf: Csrf = "",
    back: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Acknowledge or resolve an alert with a note (the form of the inbox)."""
    check_csrf(user, csrf)
    if action not in ("acknowledge", "resolve"):
        return redirect_to("/dashboard/alerts", err="未知操作")
    message, error = _act(session, services, user, alert_id, action, note)
    # Back to the inbox (only: `back` never leads off the dashboard), at the alert acted on.
    target, _, anchor = back.partition("#")
    if not target.startswith("/dashboard/alerts") or "//" in target or "?" in target:
        target = "/dashboard/alerts"
    query = urlencode({"msg": message} if message else {"err": error})
    return secure(
        RedirectResponse(
            f"{target}?{query}" + (f"#{anchor}" if anchor.isprintable() and anchor else ""), status_code=303
        )
    )


@router.get("/batches", response_class=HTMLResponse)
def batches(request: Request, session: SessionDep, user: UserDep, response: Response) -> Response:
    """批次: the batches with their progress and bad rows, and the upload form."""
    listed = batch_routes.list_batches(session, user.principal, response, 0, 50)
    detailed = [batch_routes.get_batch(b["id"], session, user.principal, 50) for b in listed]
    return render(
        request, "batches.html", user, page="batches", batches=detailed, format_names=wording.FORMAT_NAMES,
        encoding_names=wording.ENCODING_NAMES, field_names=wording.FIELD_NAMES,
    )  # fmt: skip


@router.get("/batches/{batch_id}/progress")
def progress(batch_id: RowId, session: SessionDep, user: UserDep) -> dict[str, Any]:
    """The batch's status document (GET /v1/batches/{id}), polled by the page's progress bar."""
    view = batch_routes.get_batch(batch_id, session, user.principal, 50)
    return {k: view[k] for k in ("id", "status", "phase", "processed", "total", "progress", "errors", "error")}


@router.post("/batches")
async def upload(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    file: Annotated[UploadFile, File()],
    csrf: Csrf = "",
) -> Response:
    """Upload a file as a batch through POST /v1/batches; back to the list, which follows its progress."""
    check_csrf(user, csrf)
    try:
        created = await batch_routes.upload(file, services, Response(), user.principal, None, None)
    except ApiError as error:
        return redirect_to("/dashboard/batches", err=f"文件被拒绝：{error.detail}")
    note = "同一文件已上传过" if created.duplicate else "已加入分析队列"
    return redirect_to("/dashboard/batches", msg=f"批次 {created.id}：{note}", watch=str(created.id))


@router.get("/batches/{batch_id}/results")
def results(batch_id: RowId, session: SessionDep, user: UserDep) -> Response:
    """The batch's results as CSV (GET /v1/batches/{id}/results?format=csv)."""
    response: Response = batch_routes.get_results(batch_id, session, user.principal, "csv")
    return secure(response)
