"""API keys: creating one (the key shown once) and listing them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import StrictIn

Role = Literal["service", "analyst", "admin"]


class KeyIn(StrictIn):
    role: Role
    name: Annotated[str, StringConstraints(max_length=100)] = ""


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="shown once; only its hash is stored")
