"""Corrected labels given by analysts for stored items."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import MAX_NOTE_CHARS, StrictIn


class LabelIn(StrictIn):
    """A corrected label for a stored item, named as in the batch results: batch id and item id."""

    batch_id: int = Field(ge=1, le=2**31)
    item_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    row: int | None = Field(default=None, ge=0, le=2**31, description="0-based row, when the item id repeats")
    label: Literal["negative", "positive", 0, 1] = Field(description="negative (0) or positive (1)")
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)] = ""


class LabelOut(BaseModel):
    id: int
    batch_id: int
    item_id: str
    row: int
    label: Literal["negative", "positive"]
    text: str = Field(description="the stored (redacted) text")
    predicted: str = Field(description="the model's label when the item was analysed")
    negative_probability: float
    model_version: str | None
    note: str
    key_id: int | None
    created_at: datetime


class LabelsOut(BaseModel):
    total: int
    items: list[LabelOut]
