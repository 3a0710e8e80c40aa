"""Error types of the pipeline.

Every error says where (file, line/row, field) and what to do; codes are stable so that the CLI
and the HTTP layer can map them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class KeshengError(Exception):
    """Base of every error kesheng raises on purpose."""

    code = "E000"


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file, a 1-based line or row, and a field (column or key)."""

    file: str
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.field:
            where += f" [{self.field}]"
        return where


class InputError(KeshengError):
    """A whole input cannot be read (unknown format, undecodable, no text column...)."""

    code = "E100"

    def __init__(self, location: Location, message: str) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message} ({self.code})")


class ConfigError(KeshengError):
    """The configuration is invalid; the message names the key."""

    code = "E200"


class ModelError(KeshengError):
    """A model is missing, unreadable or inconsistent with its manifest."""

    code = "E300"


class NotFittedError(KeshengError):
    """A fitted step was used before `fit` (or `load`)."""

    code = "E400"


@dataclass(frozen=True)
class RowProblem:
    """One bad row of an otherwise accepted input: reported in the batch result, never dropped silently.

    The message is scrubbed of personal data (nlp.personal.scrub): it may quote the bad cell, and a
    phone number in a date column must not come back in a report or a log.
    """

    location: Location
    message: str

    def __post_init__(self) -> None:
        from nlp.personal import scrub  # nlp.personal reads headers with the readers, which use this module

        object.__setattr__(self, "message", scrub(self.message))

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "row": self.location.row,
            "field": self.location.field,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"
