"""Errors of the service and their one mapping to HTTP: RFC 9457 problem+json documents.

Pipeline errors (nlp.errors) keep their code and, for input errors, the file, row and field; the
service adds its own (not found, too large, unauthorised...). 422 validation errors and unexpected
failures are problem+json too, so a client parses one error format.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlp.alerts import AlertTransitionError
from nlp.errors import ConfigError, InputError, KeshengError, ModelError
from nlp.readers.limits import InputTooLargeError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("kesheng.api")


class ApiError(KeshengError):
    """An error with its HTTP status; `detail` says what went wrong and what to do."""

    code = "E600"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(ApiError):
    code, status, title = "E604", 404, "Not found"


class UnauthorizedError(ApiError):
    code, status, title = "E601", 401, "Unauthorized"


class ForbiddenError(ApiError):
    code, status, title = "E603", 403, "Forbidden"


class TooLargeError(ApiError):
    code, status, title = "E613", 413, "Content too large"


class BodyTooLargeError(StarletteHTTPException):
    """A request body over its route's limit, found while it streams in (api.body_limit). An
    HTTPException, because FastAPI passes those on from reading a body where it would call any
    other error a malformed body (400); answered as TooLargeError."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class ConflictError(ApiError):
    code, status, title = "E609", 409, "Conflict"


class UnavailableError(ApiError):
    code, status, title = "E650", 503, "Service unavailable"


def problem(
    status: int, title: str, detail: str, code: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": f"urn:kesheng:problem:{code}", "title": title, "status": status, "detail": detail, "code": code}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="kesheng"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def to_problem(error: KeshengError) -> JSONResponse:
    """The problem+json response of any kesheng error."""
    if isinstance(error, ApiError):
        return problem(error.status, error.title, error.detail, error.code, **error.extra)
    if isinstance(error, InputTooLargeError):
        where = error.location
        return problem(
            413, TooLargeError.title, error.message, error.code, file=where.file, row=where.row, field=where.field
        )
    if isinstance(error, InputError):
        where = error.location
        return problem(
            422, "Unreadable input", error.message, error.code, file=where.file, row=where.row, field=where.field
        )
    if isinstance(error, AlertTransitionError):
        return problem(409, "Not allowed in this state", str(error), error.code)
    if isinstance(error, ModelError):
        return problem(503, "Model unavailable", str(error), error.code)
    if isinstance(error, ConfigError):
        return problem(500, "Configuration error", str(error), error.code)
    return problem(400, "Bad request", str(error), error.code)


_OPERATIONS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@lru_cache(maxsize=256)
def _template(path: str) -> re.Pattern[str]:
    """An OpenAPI path ("/v1/batches/{batch_id}") as a pattern of the paths it names."""
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))


def allowed_methods(request: Request, given: str = "") -> str:
    """The methods the request's path answers to: those its route named (`given`), and every method
    the OpenAPI document lists for the path. FastAPI's 405 names only the first route that matched
    (GET /v1/labels, where POST /v1/labels is another route); a GET also answers HEAD."""
    methods = {method.strip().upper() for method in given.split(",") if method.strip()}
    path = request.scope.get("path", "")
    for template, operations in request.app.openapi().get("paths", {}).items():
        if _template(template).fullmatch(path):
            methods |= {method.upper() for method in operations if method in _OPERATIONS}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Map every error to problem+json in one place."""

    async def kesheng_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, KeshengError)
        return to_problem(error)

    async def validation_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [
            {"location": ".".join(str(part) for part in e.get("loc", ())), "message": e.get("msg", "")}
            for e in error.errors()
        ]
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid request", summary or "invalid request", "E622", errors=errors)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if isinstance(error, BodyTooLargeError):
            return to_problem(TooLargeError(str(error.detail)))
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        detail = str(error.detail)
        return problem(error.status_code, detail, detail, f"E{error.status_code}", headers=headers)

    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return problem(500, "Internal error", "the service failed; the error is in its log", "E699")

    app.add_exception_handler(KeshengError, kesheng_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
