"""What validating training files finds and reports: the thresholds (``ValidationConfig``), each
problem with its file, row and field (``Problem``), the accepted rows (``TrainingExample``) and the
``ValidationReport`` that ``training.validate.validate`` returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.gate import DEFAULT_CONFIG
from nlp import settings
from nlp.errors import KeshengError, Location
from nlp.schema import EMOTIONS, LABELS
from nlp.settings import setting
from training.pool import Example

DataKind = Literal["binary", "three-way"]
# How many problems an error message lists before "… and N more".
LISTED_PROBLEMS = 30


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of validation (the [validation] table of training/configs/registry.toml)."""

    # Fewer usable texts than this refuse the files (0 = no minimum).
    min_rows: int = setting(20, low=0)
    # A warning when the rarer label's share is below this; that share is at most one half.
    min_label_share: float = setting(0.2, low=0.0, high=0.5)
    # "error" refuses files with a repeated text, "drop" keeps its first copy and warns.
    duplicates: Literal["error", "drop"] = "error"

    @classmethod
    def load(cls, path: Path = DEFAULT_CONFIG) -> ValidationConfig:
        """Read the [validation] table (all keys optional); ConfigError names the key that is wrong."""
        return settings.load(cls, path, section="validation")


@dataclass(frozen=True)
class Problem:
    """One problem of the training data, where it is and how bad."""

    location: Location
    kind: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.location}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for the training-job API)."""
        loc = self.location
        return {
            "severity": self.severity,
            "kind": self.kind,
            "file": loc.file,
            "row": loc.row,
            "field": loc.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class FileSummary:
    """What one training file held: its hash, the labelled rows read from it, how many are positive
    and (three-way files) neutral or with an emotion."""

    file: str
    sha256: str
    rows: int
    positive: int
    neutral: int = 0
    emotions: int = 0


@dataclass(frozen=True)
class TrainingExample:
    """One accepted row of any kind: `polarity` an index into ``nlp.schema.LABELS`` (0 negative,
    1 neutral, 2 positive) or None, `emotion` an index into ``nlp.schema.EMOTIONS`` or None (at least
    one is given); `two_way` when its file's polarity labels were only negative and positive (the row
    says which way the text leans, not that it has an opinion)."""

    text: str
    polarity: int | None
    emotion: int | None
    two_way: bool
    source: str

    def stratum(self) -> str:
        """What the held-out dev share is stratified by: the polarity, else the emotion."""
        if self.polarity is not None:
            return LABELS[self.polarity]
        return f"emotion:{EMOTIONS[self.emotion or 0]}"


@dataclass(frozen=True)
class ValidationReport:
    """Every problem found, and the rows that training would use (in file order, first copy kept).

    `kind` is "binary" when no row is neutral and none has an emotion, else "three-way". `rows`
    holds every accepted row; `examples` the same rows as 0/1 Examples for binary data (what
    training.train reads), empty for three-way data, so that 0/1 cannot be mistaken for indices."""

    files: tuple[FileSummary, ...]
    problems: tuple[Problem, ...]
    examples: tuple[Example, ...]
    rows: tuple[TrainingExample, ...] = ()
    kind: DataKind = "binary"

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems that refuse the data."""
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Problems reported without refusing the data."""
        return tuple(p for p in self.problems if p.severity == "warning")

    def raise_for_errors(self) -> None:
        """Raise TrainingDataError when there is any error."""
        if self.errors:
            raise TrainingDataError(self.errors)

    def summary(self) -> str:
        """One line: rows kept, labels, files, problems."""
        tail = f"from {len(self.files)} file(s); {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        if self.kind == "binary":
            positive = sum(e.label for e in self.examples)
            counts = f"{positive} positive, {len(self.examples) - positive} negative"
            return f"{len(self.examples)} training texts ({counts}) {tail}"
        return f"{len(self.rows)} training texts ({label_counts(self.rows)}) {tail}"


def label_counts(rows: Sequence[TrainingExample]) -> str:
    """ "2 negative, 3 neutral, 1 positive; 4 with an emotion (2 angry, 1 sad, 1 happy)" of three-way rows."""
    polarity = Counter(r.polarity for r in rows if r.polarity is not None)
    emotion = Counter(r.emotion for r in rows if r.emotion is not None)
    parts = ", ".join(f"{polarity[i]} {name}" for i, name in enumerate(LABELS)) if polarity else "no polarity"
    shown = ", ".join(f"{emotion[i]} {name}" for i, name in enumerate(EMOTIONS) if emotion[i])
    return f"{parts}; {sum(emotion.values())} with an emotion" + (f" ({shown})" if shown else "")


class TrainingDataError(KeshengError):
    """Training files were refused; `problems` lists every error with file, row and field."""

    code = "E110"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        listed = [str(p) for p in self.problems[:LISTED_PROBLEMS]]
        if len(self.problems) > LISTED_PROBLEMS:
            listed.append(f"… and {len(self.problems) - LISTED_PROBLEMS} more")
        super().__init__(
            f"the training data has {len(self.problems)} error(s); nothing was trained ({self.code}):\n  "
            + "\n  ".join(listed)
        )


__all__ = [
    "LISTED_PROBLEMS",
    "DataKind",
    "FileSummary",
    "Problem",
    "TrainingDataError",
    "TrainingExample",
    "ValidationConfig",
    "ValidationReport",
    "label_counts",
]
