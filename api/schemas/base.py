"""Shared pieces of the request and response schemas: limits, constrained strings, the request base."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000
MAX_TURNS = 200
MAX_NOTE_CHARS = 2000
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Label = Literal["negative", "neutral", "positive"]


class StrictIn(BaseModel):
    """A request body: unknown fields are refused (a misspelt field is an error, not ignored), and
    values are taken as the schema types them, not coerced: "1" is not the number 1, false is not
    the time 0.0. What the OpenAPI document says a body may be is what the server accepts."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ISO text as the OpenAPI formats "date" and "date-time" say it. Pydantic's own parsing also takes a
# number or a string of digits as a Unix time ("0" is 1970-01-01), which the schema does not offer.
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)


def _iso(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, str) and pattern.fullmatch(value) is None:
            raise ValueError(f"expected an ISO {what}, got {value!r}")
        return value

    return BeforeValidator(check)


IsoDay = Annotated[date, _iso(_ISO_DAY, "date (2026-11-02)")]
IsoMoment = Annotated[datetime, _iso(_ISO_MOMENT, "date and time (2026-11-02T09:30:00+08:00)")]
