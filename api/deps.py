"""Dependencies of the routes, as Annotated aliases: the running services, a session, the caller's key
(and, on the real-time route, its rate limit)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError, ForbiddenError, UnauthorizedError
from api.keys import Principal, Role, find_key
from api.ratelimit import RateLimitedError, RateLimiter
from api.services import Services


class TwoKeysError(ApiError):
    code, status, title = "E602", 400, "Two API keys"


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def presented_key(authorization: str | None, api_key: str | None) -> str:
    """The one API key a request presents, by one rule for the two headers.

    `Authorization: Bearer <key>` and `X-API-Key: <key>` are equal ways in: either alone is taken,
    both are taken when they hold the same key, and two different keys are refused (400) rather
    than one silently chosen. An Authorization header of another scheme (a proxy's Basic) carries
    no kesheng key and is left aside when X-API-Key has one. Raises UnauthorizedError without a key.
    """
    bearer: str | None = None
    malformed = False
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            bearer = value.strip()
        else:
            malformed = True
    header = (api_key or "").strip() or None
    if bearer is not None and header is not None and bearer != header:
        raise TwoKeysError(
            "two different API keys: Authorization: Bearer and X-API-Key hold different keys; send one of them"
        )
    key = bearer or header
    if key is None:
        if malformed:
            raise UnauthorizedError("the Authorization header must be 'Bearer <key>' (or send X-API-Key: <key>)")
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    return key


async def current_principal(
    request: Request,
    services: ServicesDep,
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _header_doc: Annotated[str | None, Security(_header)],
) -> Principal:
    """The caller, from its key (`presented_key`: Authorization: Bearer or X-API-Key); 401 without a
    valid key, 400 for two different keys.

    Async on purpose: a cached key costs no thread hop on the real-time path; an unknown one is
    looked up once (a single indexed SELECT). The security parameters only document the two ways
    in OpenAPI. Expiry is checked on every request, so a cached key stops at its expiry exactly.
    """
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    now = time.monotonic()
    known, principal = services.keys.get(key, now)
    if not known:
        with services.factory() as session:
            principal = find_key(session, key)
        services.keys.put(key, principal, now)
    if principal is None:
        raise UnauthorizedError("invalid or revoked API key")
    if principal.expired(datetime.now(UTC)):
        assert principal.expires_at is not None
        raise UnauthorizedError(
            f"this API key (id {principal.key_id}) expired at {principal.expires_at.isoformat()}; "
            "ask an admin for a new key"
        )
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through keys of `role` or a higher one (service < analyst < admin)."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.can(role):
            raise ForbiddenError(f"this needs a key with the {role} role (or higher); this key is {principal.role}")
        return principal

    return check


ServiceKey = Annotated[Principal, Depends(require("service"))]
AnalystKey = Annotated[Principal, Depends(require("analyst"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]


async def rate_limiter(request: Request, services: ServicesDep) -> RateLimiter:
    """The app's per-key limiter of the real-time route, made from its settings on first use (one per
    app, so per process)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        settings = services.settings
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        request.app.state.rate_limiter = limiter
    return limiter


async def rate_limited(principal: ServiceKey, limiter: Annotated[RateLimiter, Depends(rate_limiter)]) -> Principal:
    """The caller (a service key or higher) when its key has a request left in its bucket; 429 with
    Retry-After otherwise (api.ratelimit). Async: no thread hop on the real-time path."""
    wait = limiter.take(principal.key_id)
    if wait > 0:
        raise RateLimitedError.after(wait, limiter)
    return principal


RealTimeKey = Annotated[Principal, Depends(rate_limited)]
