"""The audit log (GET /v1/audit): a page of entries, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# api.audit.ACTIONS, spelt out for the OpenAPI document (tests/api/test_audit.py checks they agree).
AuditAction = Literal[
    "batch.upload",
    "alert.acknowledge",
    "alert.resolve",
    "model.promote",
    "model.rollback",
    "key.create",
    "key.revoke",
    "field.reveal",
]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    key_id: int | None = Field(description="the acting API key's id; null: the CLI on the machine")
    action: AuditAction
    target: str = Field(description='the object acted on: "batch:12", "alert:al-…", "model:v3", "key:5"')
    detail: dict[str, str | int | float | bool | None] = Field(
        description="counts, flags and versions (a note's length, never its text); no personal data"
    )


class AuditPageOut(BaseModel):
    total: int = Field(description="entries matching the filters")
    offset: int
    limit: int
    items: list[AuditEntryOut]
