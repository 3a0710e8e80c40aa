"""API keys: creating one (the key shown once, with an optional expiry) and listing them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, Strict, StringConstraints

from api.schemas.base import IsoMoment, StrictIn

Role = Literal["service", "analyst", "admin"]


def _text(value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected an ISO date and time as text (2027-06-30T18:00:00+08:00)")
    return value


class KeyIn(StrictIn):
    role: Role
    name: Annotated[str, StringConstraints(max_length=100)] = ""
    # A strict body takes a datetime only as a datetime object, and JSON has none: the text is read as
    # ISO 8601 (IsoMoment), and only text (lax parsing would take a number as a Unix time).
    expires_at: Annotated[IsoMoment, BeforeValidator(_text), Strict(False)] | None = Field(
        default=None,
        description="when the key stops working (ISO 8601; without a zone: UTC): ahead, at most 10 years; "
        "leave it out for a key that does not expire",
    )


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(description="null: the key does not expire")
    expired: bool = Field(description="expires_at has passed: the key gets 401")


class KeyCreatedOut(KeyOut):
    key: str = Field(description="shown once; only its hash is stored")
