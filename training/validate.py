"""Validate training files for ``kesheng train`` before any training starts.

Files are CSV/TSV (a text column and a 0/1 label column, found by the same header names and the same
delimiter and encoding detection as ``models.evaluate.read_labelled``) or JSONL (one object per
line with such keys). Unlike ``read_labelled``, which stops at the first bad row, validation reads
every row of every file and reports every problem with its file, row and field:

- errors (nothing is trained): unreadable file, missing text or label column, a row with the wrong
  number of fields, a label other than 0/1, an empty text, a text given conflicting labels, a text
  that is also in an evaluation set (a model must not be judged on what it learnt), a duplicate
  text (unless the config says "drop"), too few rows, a single label;
- warnings: a duplicate dropped by configuration, an unbalanced label share.

Texts are cleaned as ``training.pool`` cleans its sources (BOMs and zero-width characters removed,
whitespace folded); duplicates, conflicts and overlap are found by ``training.pool.match_key``, so a
traditional-Chinese or re-spaced copy of an evaluation text counts as the same text. The accepted
rows are written as one ``label<TAB>text`` TSV, the format training.train reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.evaluate import LABEL_COLUMNS, TEXT_COLUMNS, detect_delimiter, find_column, read_labelled
from models.gate import DEFAULT_CONFIG
from nlp import settings
from nlp.errors import InputError, KeshengError, Location
from nlp.readers.encoding import decode_bytes
from nlp.settings import setting
from training.pool import Example, clean_text, match_key, write_tsv

TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
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
    """What one training file held: its hash and the labelled rows read from it."""

    file: str
    sha256: str
    rows: int
    positive: int


@dataclass(frozen=True)
class ValidationReport:
    """Every problem found, and the rows that training would use (in file order, first copy kept)."""

    files: tuple[FileSummary, ...]
    problems: tuple[Problem, ...]
    examples: tuple[Example, ...]

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
        positive = sum(e.label for e in self.examples)
        return (
            f"{len(self.examples)} training texts ({positive} positive, {len(self.examples) - positive} negative) "
            f"from {len(self.files)} file(s); {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )


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


@dataclass(frozen=True)
class _Row:
    row: int
    text: str
    text_field: str
    label: int


def _table_rows(path: Path, text: str, problems: list[Problem]) -> list[_Row]:
    file = str(path)
    header_line = text.split("\n", 1)[0]
    delimiter = detect_delimiter(header_line, path.suffix.lower())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers = next(reader, [])
    text_index, label_index = find_column(headers, TEXT_COLUMNS), find_column(headers, LABEL_COLUMNS)
    for index, kind, names in ((text_index, "text", TEXT_COLUMNS), (label_index, "label", LABEL_COLUMNS)):
        if index is None:
            problems.append(
                Problem(
                    Location(file, 1, kind),
                    "missing_column",
                    f"no {kind} column: the header is {headers!r}; name it one of {', '.join(names)}",
                )
            )
    if text_index is None or label_index is None:
        return []
    text_name, label_name = headers[text_index].strip(), headers[label_index].strip()
    rows: list[_Row] = []
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(headers):
            problems.append(
                Problem(
                    Location(file, start),
                    "bad_row",
                    f"row has {len(cells)} fields but the header has {len(headers)} (delimiter {delimiter!r})",
                )
            )
            continue
        row = _checked(file, start, cells[text_index], text_name, cells[label_index], label_name, problems)
        if row is not None:
            rows.append(row)
    return rows


def _jsonl_rows(path: Path, text: str, problems: list[Problem]) -> list[_Row]:
    file = str(path)
    rows: list[_Row] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(Location(file, number), "bad_row", f"not a JSON object: {error.msg}"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(Location(file, number), "bad_row", "not a JSON object"))
            continue
        keys = list(record)
        text_index, label_index = find_column(keys, TEXT_COLUMNS), find_column(keys, LABEL_COLUMNS)
        if text_index is None or label_index is None:
            kind = "text" if text_index is None else "label"
            names = TEXT_COLUMNS if text_index is None else LABEL_COLUMNS
            problems.append(
                Problem(Location(file, number, kind), "missing_column", f"no {kind} key; name it one of {names}")
            )
            continue
        text_key, label_key = keys[text_index], keys[label_index]
        value, label = record[text_key], record[label_key]
        label_text = str(int(label)) if isinstance(label, int) and not isinstance(label, bool) else str(label)
        row = _checked(file, number, value if isinstance(value, str) else "", text_key, label_text, label_key, problems)
        if row is not None:
            rows.append(row)
    return rows


def _checked(
    file: str, row: int, text: str, text_field: str, label: str, label_field: str, problems: list[Problem]
) -> _Row | None:
    value = LABELS.get(label.strip())
    cleaned = clean_text(text)
    ok = True
    if value is None:
        problems.append(
            Problem(
                Location(file, row, label_field),
                "bad_label",
                f"label must be 0 (negative) or 1 (positive), got {label!r}",
            )
        )
        ok = False
    if not cleaned:
        problems.append(Problem(Location(file, row, text_field), "empty_text", "empty text; remove the row or fill it"))
        ok = False
    return _Row(row, cleaned, text_field, value) if ok and value is not None else None


def read_training_file(path: Path, problems: list[Problem]) -> tuple[FileSummary | None, list[_Row]]:
    """Every labelled row of one file; problems are appended, never raised."""
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES | JSONL_SUFFIXES:
        kinds = ", ".join(sorted(TABLE_SUFFIXES | JSONL_SUFFIXES))
        problems.append(Problem(Location(file), "format", f"unsupported file type {suffix!r}; use one of {kinds}"))
        return None, []
    try:
        data = path.read_bytes()
        text, _encoding = decode_bytes(data, file)
    except OSError as error:
        problems.append(Problem(Location(file), "unreadable", f"cannot read the file: {error.strerror}"))
        return None, []
    except InputError as error:
        problems.append(Problem(error.location, "unreadable", error.message))
        return None, []
    rows = _jsonl_rows(path, text, problems) if suffix in JSONL_SUFFIXES else _table_rows(path, text, problems)
    digest = hashlib.sha256(data).hexdigest()
    return FileSummary(file, digest, len(rows), sum(r.label for r in rows)), rows


def evaluation_keys(eval_sets: Mapping[str, Path]) -> dict[str, tuple[str, Location]]:
    """match_key → (set name, where) of every text of the evaluation sets (the first one wins)."""
    keys: dict[str, tuple[str, Location]] = {}
    for name, path in eval_sets.items():
        labelled = read_labelled(path)
        for text, row in zip(labelled.texts, labelled.rows, strict=True):
            keys.setdefault(match_key(text), (name, Location(str(path), row)))
    return keys


def validate(
    files: Sequence[Path], eval_sets: Mapping[str, Path], config: ValidationConfig | None = None
) -> ValidationReport:
    """Check training `files` against each other and against the evaluation sets; see the module doc."""
    config = config or ValidationConfig()
    problems: list[Problem] = []
    summaries: list[FileSummary] = []
    read: list[tuple[str, _Row]] = []
    for path in files:
        summary, rows = read_training_file(path, problems)
        if summary is not None:
            summaries.append(summary)
        read.extend((str(path), row) for row in rows)
    examples = _deduplicated(read, evaluation_keys(eval_sets), config, problems)
    problems.extend(_totals(examples, files, config))
    return ValidationReport(tuple(summaries), tuple(problems), tuple(examples))


def _deduplicated(
    rows: Iterable[tuple[str, _Row]],
    eval_keys: Mapping[str, tuple[str, Location]],
    config: ValidationConfig,
    problems: list[Problem],
) -> list[Example]:
    first: dict[str, tuple[Location, int]] = {}
    examples: list[Example] = []
    for file, row in rows:
        where = Location(file, row.row, row.text_field)
        key = match_key(row.text)
        if key in eval_keys:
            name, at = eval_keys[key]
            problems.append(
                Problem(
                    where,
                    "eval_overlap",
                    f"text is in evaluation set {name!r} ({at}); remove it (a model is never judged on what it learnt)",
                )
            )
            continue
        if key in first:
            seen, label = first[key]
            if label != row.label:
                problems.append(
                    Problem(
                        where,
                        "conflicting_label",
                        f"labelled {row.label} here but {label} at {seen}; keep one label for this text",
                    )
                )
            else:
                drop = config.duplicates == "drop"
                problems.append(
                    Problem(
                        where,
                        "duplicate",
                        f"duplicate of {seen}" + ("; dropped" if drop else "; remove it or pass --drop-duplicates"),
                        "warning" if drop else "error",
                    )
                )
            continue
        first[key] = (Location(file, row.row), row.label)
        examples.append(Example(row.label, row.text, f"{file}:{row.row}"))
    return examples


def _totals(examples: Sequence[Example], files: Sequence[Path], config: ValidationConfig) -> list[Problem]:
    where = Location(", ".join(str(f) for f in files))
    counts = Counter(e.label for e in examples)
    problems = []
    if len(examples) < config.min_rows:
        problems.append(
            Problem(where, "too_few_rows", f"{len(examples)} usable texts; at least {config.min_rows} are needed")
        )
    if examples and len(counts) < 2:
        only = "positive" if 1 in counts else "negative"
        problems.append(Problem(where, "one_label", f"every text is {only}; both labels are needed"))
    elif examples:
        share = min(counts.values()) / len(examples)
        if share < config.min_label_share:
            problems.append(
                Problem(
                    where,
                    "label_balance",
                    f"unbalanced labels: {counts[1]} positive / {counts[0]} negative "
                    f"({share:.0%} for the rarer label, below {config.min_label_share:.0%})",
                    "warning",
                )
            )
    return problems


def write_clean_tsv(examples: Iterable[Example], path: Path) -> str:
    """Write accepted rows (a report's ``examples``, or a share of them) as ``label<TAB>text``
    (training.train's format); returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_tsv(path, examples)


__all__ = [
    "FileSummary",
    "Problem",
    "TrainingDataError",
    "ValidationConfig",
    "ValidationReport",
    "evaluation_keys",
    "read_training_file",
    "validate",
    "write_clean_tsv",
]
