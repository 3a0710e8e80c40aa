"""Sign-in and sign-out of the dashboard (GET / shows the form; POST /login opens a session)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.sessions import SESSION_LIFETIME, SignInError, csrf_matches, principal_of, sign_in, sign_out
from api.dashboard.web import LOGIN_CSRF_COOKIE, SESSION_COOKIE, UserDep, check_csrf, render, secure
from api.deps import ServicesDep

router = APIRouter(include_in_schema=False)
HOME = "/dashboard"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _login_page(request: Request, error: str = "", status_code: int = 200) -> HTMLResponse:
    # Double-submit token for the sign-in form itself (there is no session yet to derive one from).
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status_code=status_code, login_csrf=token, login_error=error)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token, 1800)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, services: ServicesDep) -> Response:
    """The sign-in page, or the overview when the browser is signed in already."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        with services.factory() as session:
            if principal_of(session, token, datetime.now(UTC)) is not None:
                return RedirectResponse(HOME, status_code=303)
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    services: ServicesDep,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Open a session for an analyst or admin key; the form again with the reason otherwise."""
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
        return _login_page(request, "登录表单已过期，请重新输入密钥", 403)
    try:
        with services.factory() as session, session.begin():
            token, _, _ = sign_in(session, key, datetime.now(UTC))
    except SignInError as error:
        return _login_page(request, str(error), 401)
    response = secure(RedirectResponse(HOME, status_code=303))
    _cookie(response, request, SESSION_COOKIE, token, int(SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(
    request: Request, services: ServicesDep, user: UserDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """End the session (its row is deleted: the cookie is worthless from now on)."""
    check_csrf(user, csrf)
    with services.factory() as session, session.begin():
        sign_out(session, request.cookies.get(SESSION_COOKIE, ""))
    response = secure(RedirectResponse("/?msg=已退出登录", status_code=303))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
