"""The dashboard's plumbing: templates, the signed-in user of a request, CSRF checks, and the headers
that keep every page offline (a Content-Security-Policy that lets the browser load nothing from
elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from api.dashboard.sessions import csrf_matches, csrf_token, principal_of
from api.dashboard.wording import row_problem
from api.deps import ServicesDep
from api.keys import Principal
from nlp.schema import DIMENSION_NAMES as NAMES

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")


def when(value: datetime | str | None, width: int = 16) -> Markup:
    """A moment as the page shows it: `<time>` with the instant, its UTC minute as text; the page's
    script rewrites it in the browser's own time zone (a manager in 北京 reads 北京 time)."""
    if value is None or value == "":
        return Markup("—")
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(sep=" ")[:width]
    return Markup('<time class="local" datetime="{}" data-width="{}">{} UTC</time>').format(
        moment.isoformat(), width, text
    )


TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["row_problem"] = row_problem
SESSION_COOKIE = "kesheng_session"
LOGIN_CSRF_COOKIE = "kesheng_login_csrf"
# Everything from this service only: a page can neither load nor send anything elsewhere. Styles may be
# inline because ECharts sizes its canvas with style attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATUS_NAMES = {"open": "待处理", "acknowledged": "已确认", "resolved": "已解决", "expired": "已过期"}
LABEL_NAMES = {"negative": "负面", "neutral": "中性", "positive": "正面"}
# The heatmap dimensions the pages offer, named as in the core.
DIMENSION_NAMES = {k: NAMES[k] for k in ("tier", "channel", "region", "product", "week")}


class SignInRequired(Exception):
    """The request has no valid dashboard session: answered with a redirect to the sign-in page."""


class AdminRequired(Exception):
    """An analyst asked for an admin page: answered with a 403 page."""


class CsrfError(Exception):
    """A form posted without this session's CSRF token: answered with a 403 page."""


@dataclass(frozen=True)
class User:
    """The signed-in manager: the key's principal, and the CSRF token the session's forms carry."""

    principal: Principal
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.principal.can("admin")


def current_user(request: Request, services: ServicesDep) -> User:
    """The dashboard user of the request's session cookie; SignInRequired when there is none."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise SignInRequired
    with services.factory() as session:
        principal = principal_of(session, token, datetime.now(UTC))
    if principal is None:
        raise SignInRequired
    return User(principal, csrf_token(token))


UserDep = Annotated[User, Depends(current_user)]


def admin_user(user: UserDep) -> User:
    if not user.is_admin:
        raise AdminRequired
    return user


AdminDep = Annotated[User, Depends(admin_user)]


def check_csrf(user: User, given: str | None) -> None:
    if not csrf_matches(user.csrf, given):
        raise CsrfError


def render(request: Request, name: str, user: User | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page of the dashboard, with the user, the navigation and the offline headers."""
    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "flash": request.query_params.get("msg", ""),
            "error": request.query_params.get("err", ""),
            "status_names": STATUS_NAMES,
            "label_names": LABEL_NAMES,
            "dimension_names": DIMENSION_NAMES,
            **context,
        },
        status_code=status_code,
    )
    return secure(response)


AnyResponse = TypeVar("AnyResponse", bound=Response)


def secure(response: AnyResponse) -> AnyResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response
