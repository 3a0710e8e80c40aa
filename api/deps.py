"""Dependencies of the routes, as Annotated aliases: the running services, a session, the caller's key."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ForbiddenError, UnauthorizedError
from api.keys import Principal, Role, verify_key
from api.services import Services

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


async def current_principal(
    request: Request,
    services: ServicesDep,
    _bearer_doc: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _header_doc: Annotated[str | None, Security(_header)],
) -> Principal:
    """The caller, from `Authorization: Bearer <key>` or `X-API-Key: <key>`; 401 without a valid key.

    An Authorization header, when present, must hold a valid key: a bad one is not excused by a good
    X-API-Key beside it. Async on purpose: a cached key costs no thread hop on the real-time path; an
    unknown one is looked up once (a single indexed SELECT). The security parameters only document
    the two ways in OpenAPI.
    """
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise UnauthorizedError("the Authorization header must be 'Bearer <key>'")
        key = key.strip()
    else:
        key = request.headers.get("x-api-key", "")
    if not key:
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    now = time.monotonic()
    known, principal = services.keys.get(key, now)
    if not known:
        with services.factory() as session:
            principal = verify_key(session, key)
        services.keys.put(key, principal, now)
    if principal is None:
        raise UnauthorizedError("invalid or revoked API key")
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
