"""The managers' dashboard (客户之声看板) at `/`: server-rendered Chinese pages (Jinja2, a little
vanilla JS, Apache ECharts shipped in static/echarts), signed in with an API key.

`install(app)` mounts the pages, their static files and the answers to a missing session (a redirect
to the sign-in page), a missing role or a missing CSRF token (a 403 page). The pages are imported
there, not here: api.aggregates imports this package's `tallies` (the figures kept with the heatmap
aggregates), and the pages import the service's routes, which import api.aggregates.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response


def install(app: FastAPI) -> None:
    """Add the dashboard's routes and static files to the service."""
    from fastapi.staticfiles import StaticFiles

    from api.dashboard import actions, admin, auth, calls, docs, pages, rootcause
    from api.dashboard.web import HERE, AdminRequired, CsrfError, SignInRequired, current_user, render, secure

    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    for module in (auth, pages, rootcause, actions, calls, admin, docs):
        app.include_router(module.router)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _: SignInRequired) -> Response:
        return secure(RedirectResponse("/?err=请先登录", status_code=303))

    @app.exception_handler(AdminRequired)
    async def admins_only(request: Request, _: AdminRequired) -> Response:
        user = current_user(request, request.app.state.services)
        return render(request, "forbidden.html", user, status_code=403, reason="此页面仅限管理员（admin）密钥访问。")

    @app.exception_handler(CsrfError)
    async def bad_form(request: Request, _: CsrfError) -> Response:
        return render(request, "forbidden.html", None, status_code=403, reason="表单已过期或来源不明，请返回后重试。")
