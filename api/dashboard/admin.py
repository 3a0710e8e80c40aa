"""The admin's pages: 模型 (versions, metrics, promote through the gate, roll back) and 密钥 (list,
create — the key shown once, on the page that answers the form — and revoke). Each calls the API's
route function (api.routes.models, api.routes.keys) with the signed-in admin's principal, so the gate,
the audit log and the rules (a key cannot revoke itself) are the API's. Analysts get the 403 page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.dashboard.actions import Csrf, redirect_to
from api.dashboard.web import AdminDep, User, check_csrf, render
from api.deps import ServicesDep, SessionDep
from api.errors import ApiError
from api.routes import RowId
from api.routes import keys as key_routes
from api.routes import models as model_routes
from api.schemas import KeyIn, PromoteIn

router = APIRouter(prefix="/dashboard", include_in_schema=False)

ROLE_NAMES = {"service": "服务（只调用 API）", "analyst": "分析员", "admin": "管理员"}
# The lifetimes the form offers (days; 0: the key does not expire).
LIFETIMES = {0: "不过期", 30: "30 天", 90: "90 天", 365: "1 年"}


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, services: ServicesDep, user: AdminDep) -> Response:
    """模型 (admin): the registry's versions and metrics (GET /v1/models)."""
    data = model_routes.list_models(request.app.state.registry, services, user.principal)
    return render(request, "models.html", user, page="models", data=data)


@router.post("/models/{version}/promote")
async def promote(
    request: Request, version: str, services: ServicesDep, user: AdminDep, csrf: Csrf = "", force: Csrf = ""
) -> Response:
    """Promote a version through the API's gate (POST /v1/models/{version}/promote)."""
    check_csrf(user, csrf)
    try:
        out = await model_routes.promote(
            version, request.app.state.registry, services, user.principal, PromoteIn(force=force == "1")
        )
    except ApiError as error:
        return redirect_to("/dashboard/models", err=f"未能启用 {version}：{error.detail}")
    return redirect_to("/dashboard/models", msg=f"已启用 {out['version']}")


@router.post("/models/rollback")
async def rollback(request: Request, services: ServicesDep, user: AdminDep, csrf: Csrf = "") -> Response:
    """Roll back to the previously active version (POST /v1/models/rollback)."""
    check_csrf(user, csrf)
    try:
        out = await model_routes.rollback(request.app.state.registry, services, user.principal)
    except ApiError as error:
        return redirect_to("/dashboard/models", err=f"无法回滚：{error.detail}")
    return redirect_to("/dashboard/models", msg=f"已回滚到 {out['version']}")


def _keys_page(
    request: Request, session: SessionDep, user: User, created: dict[str, object] | None = None, error: str = ""
) -> HTMLResponse:
    listed = key_routes.list_keys(session, user.principal)
    return render(
        request, "keys.html", user, page="keys", keys=listed, created=created, form_error=error,
        role_names=ROLE_NAMES, lifetimes=LIFETIMES, me=user.principal.key_id,
        status_code=201 if created else 422 if error else 200,
    )  # fmt: skip


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, session: SessionDep, user: AdminDep) -> Response:
    """密钥 (admin): every key with its role, expiry and state (GET /v1/keys)."""
    return _keys_page(request, session, user)


@router.post("/keys", response_class=HTMLResponse)
def create(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    role: Annotated[str, Form(max_length=16)] = "analyst",
    name: Annotated[str, Form(max_length=200)] = "",
    days: Annotated[int, Form(ge=0, le=3650)] = 0,
    csrf: Csrf = "",
) -> Response:
    """Create a key (POST /v1/keys); the answer is the only page that shows it."""
    check_csrf(user, csrf)
    try:
        expires = (datetime.now(UTC) + timedelta(days=days)).isoformat() if days else None
        body = KeyIn.model_validate({"role": role, "name": name.strip(), "expires_at": expires})
        created = key_routes.new_key(body, session, user.principal)
    except ValidationError:
        return _keys_page(request, session, user, error="角色无效或名称超过 100 个字符")
    except ApiError as error:
        session.rollback()
        return _keys_page(request, session, user, error=f"未能创建：{error.detail}")
    return _keys_page(request, session, user, created=created)


@router.post("/keys/{key_id}/revoke")
def revoke(key_id: RowId, session: SessionDep, services: ServicesDep, user: AdminDep, csrf: Csrf = "") -> Response:
    """Revoke a key at once (DELETE /v1/keys/{id}): its requests get 401, its dashboard sessions end."""
    check_csrf(user, csrf)
    try:
        out = key_routes.revoke_key(key_id, session, services, user.principal)
    except ApiError as error:
        session.rollback()
        detail = "不能吊销当前登录所用的密钥" if error.status == 409 else error.detail
        return redirect_to("/dashboard/keys", err=f"未能吊销密钥 {key_id}：{detail}")
    return redirect_to("/dashboard/keys", msg=f"已吊销密钥 {out['prefix']}（{out['name'] or key_id}）")
