"""Shared pieces of the request and response schemas: limits, constrained strings, the request base."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000
MAX_TURNS = 200
MAX_NOTE_CHARS = 2000
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Label = Literal["negative", "neutral", "positive"]


class StrictIn(BaseModel):
    """A request body: unknown fields are refused (a misspelt field is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")
