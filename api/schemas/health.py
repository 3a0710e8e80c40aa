"""Liveness and readiness, and the problem+json error body every route may answer with."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    model_version: str | None
    database: Literal["ok", "unreachable"]
    worker: Literal["running", "stopped", "off"]
    model_error: str | None = Field(
        default=None,
        description="why the registry's newly active version could not be loaded; the version named in "
        "model_version keeps serving, so the service stays ready",
    )


class Problem(BaseModel):
    """An error (RFC 9457 problem+json). Input errors also carry file, row and field."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
