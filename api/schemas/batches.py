"""Batches: the upload's answer and the status document."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

BatchStatus = Literal["queued", "running", "done", "failed"]


class BatchCreatedOut(BaseModel):
    id: int
    status: BatchStatus
    duplicate: bool = Field(description="true when this exact file was uploaded before (same sha256)")
    total: int


class RowErrorOut(BaseModel):
    file: str
    row: int | None
    field: str | None
    message: str


class ThemeOut(BaseModel):
    id: str
    label: str
    keywords: list[str]
    department: str
    discovered: bool = False


class BatchCountsOut(BaseModel):
    items: int
    row_errors: int
    labels: dict[str, int]


class BatchOut(BaseModel):
    id: int
    filename: str
    sha256: str
    status: BatchStatus
    phase: str = Field(description="queued, scoring, themes, done or failed")
    total: int = Field(description="items to analyse (rows that could be read)")
    processed: int
    progress: float = Field(ge=0.0, le=1.0)
    counts: BatchCountsOut
    errors: list[RowErrorOut] = Field(description="individually bad rows (up to errors_limit)")
    error: str | None = Field(description="why the batch failed, if it did")
    read: dict[str, Any] = Field(description="how the file was read: format, encoding, columns, inference")
    themes: list[ThemeOut]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
