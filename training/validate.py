"""Validate training files for ``kesheng train`` before any training starts.

Files are CSV/TSV (a text column with a label column, an emotion column, or both, found by the same
header names and the same delimiter and encoding detection as ``models.evaluate.read_labelled``) or
JSONL (one object per line with such keys). Labels are read by ``read_labelled``'s rule, per file:

- binary: 0 / 1 (1 = positive);
- three-way: negative / neutral / positive, 负面 / 中性 / 正面, or the numbers 0 / 1 / 2 in a file whose
  label column holds a 2 anywhere (0 negative, 1 neutral, 2 positive; a warning names the row with
  the first 2, since a mistyped 2 in a 0/1 file would turn its positives neutral);
- emotions (optional column ``emotion`` / ``情绪``): angry / sad / fear / surprise / happy / neutral or
  愤怒 / 失望 / 焦虑 / 惊讶 / 满意 / 中性.

A cell may be left empty where its row has the other one (a text labelled with an emotion only, or a
polarity only), as ``kesheng labels export`` writes them. A file whose polarity labels are only
negative and positive (0/1 numbers, or words without a neutral) says which way a text leans, not
whether it has an opinion: its rows train the negative-vs-positive split alone (``two_way``). The
data is "binary" when no row is neutral and none has an emotion (what the binary path trains),
else "three-way" (training.multitask_user).

Unlike ``read_labelled``, which stops at the first bad row, validation reads every row of every file
and reports every problem with its file, row and field:

- errors (nothing is trained): unreadable file, missing text or label column, a row with the wrong
  number of fields, a label or emotion not listed above (or words and numbers mixed in one file), a
  row with neither, an empty text, a text given conflicting labels, a text that is also in an
  evaluation set (a model must not be judged on what it learnt), a duplicate text (unless the
  config says "drop"), too few rows, a single label (binary data);
- warnings: a duplicate dropped by configuration, an unbalanced label share, numbers read as
  three-way, a class alone on a head (three-way data).

Texts are cleaned as ``training.pool`` cleans its sources (BOMs and zero-width characters removed,
whitespace folded); duplicates, conflicts and overlap are found by ``training.pool.match_key``, so a
traditional-Chinese or re-spaced copy of an evaluation text counts as the same text. The accepted
rows are written as one ``label<TAB>text`` TSV (binary data, the format training.train reads) or a
``label<TAB>emotion<TAB>scope<TAB>text`` TSV (three-way data, ``write_labelled_tsv``).
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

from models.evaluate import (
    EMOTION_COLUMNS,
    EMOTION_RULE,
    EMOTION_VALUES,
    LABEL_COLUMNS,
    LABEL_RULE,
    POLARITY_WORDS,
    TEXT_COLUMNS,
    THREE_WAY_NUMBERS,
    detect_delimiter,
    find_column,
    read_labelled,
)
from models.gate import DEFAULT_CONFIG
from nlp import settings
from nlp.errors import InputError, KeshengError, Location
from nlp.readers.encoding import decode_bytes
from nlp.schema import EMOTIONS, LABELS
from nlp.settings import setting
from training.pool import Example, clean_text, match_key, write_tsv

TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
# Binary labels (1 = positive) as they are written; three-way ones are read by models.evaluate's rule.
BINARY_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
NEUTRAL = LABELS.index("neutral")
POSITIVE = LABELS.index("positive")
DataKind = Literal["binary", "three-way"]
# The columns of a three-way training TSV: the scope says which polarity labels a row's file had.
LABELLED_COLUMNS = ("label", "emotion", "scope", "text")
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


@dataclass(frozen=True)
class _Cells:
    """One data row of a file before its labels are read: the text and the raw label/emotion cells
    (None where the file has no such column) with their field names."""

    row: int
    text: str
    text_field: str
    label: str | None
    label_field: str | None
    emotion: str | None
    emotion_field: str | None


@dataclass(frozen=True)
class _Row:
    row: int
    text: str
    text_field: str
    polarity: int | None
    emotion: int | None
    two_way: bool
    # The 0/1 label as written, for a row of a binary file (messages quote it as the user wrote it).
    binary: int | None = None

    def shown(self) -> str:
        """The row's labels as a message quotes them."""
        if self.binary is not None and self.emotion is None:
            return str(self.binary)
        parts = [
            LABELS[self.polarity] if self.polarity is not None else "",
            "" if self.emotion is None else EMOTIONS[self.emotion],
        ]
        return "/".join(p for p in parts if p)


def _missing(file: str, kind: str, headers: Sequence[str], names: Sequence[str], extra: str = "") -> Problem:
    return Problem(
        Location(file, 1, kind),
        "missing_column",
        f"no {kind} column: the header is {list(headers)!r}; name it one of {', '.join(names)}{extra}",
    )


def _table_cells(path: Path, text: str, problems: list[Problem]) -> list[_Cells]:
    file = str(path)
    header_line = text.split("\n", 1)[0]
    delimiter = detect_delimiter(header_line, path.suffix.lower())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers = next(reader, [])
    text_index = find_column(headers, TEXT_COLUMNS)
    label_index, emotion_index = find_column(headers, LABEL_COLUMNS), find_column(headers, EMOTION_COLUMNS)
    if text_index is None:
        problems.append(_missing(file, "text", headers, TEXT_COLUMNS))
    if label_index is None and emotion_index is None:
        problems.append(
            _missing(
                file, "label", headers, LABEL_COLUMNS, f" (or give an emotion column: {', '.join(EMOTION_COLUMNS)})"
            )
        )
    if text_index is None or (label_index is None and emotion_index is None):
        return []

    def name(index: int | None) -> str | None:
        return None if index is None else headers[index].strip()

    cells_read: list[_Cells] = []
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
        cells_read.append(
            _Cells(
                start,
                cells[text_index],
                headers[text_index].strip(),
                None if label_index is None else cells[label_index],
                name(label_index),
                None if emotion_index is None else cells[emotion_index],
                name(emotion_index),
            )
        )
    return cells_read


def _json_cell(value: Any) -> str:
    """A JSON label or emotion value as the text of a table cell ("" for null)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else repr(value)


def _jsonl_cells(path: Path, text: str, problems: list[Problem]) -> list[_Cells]:
    file = str(path)
    cells_read: list[_Cells] = []
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
        text_index = find_column(keys, TEXT_COLUMNS)
        label_index, emotion_index = find_column(keys, LABEL_COLUMNS), find_column(keys, EMOTION_COLUMNS)
        if text_index is None or (label_index is None and emotion_index is None):
            kind = "text" if text_index is None else "label"
            names = TEXT_COLUMNS if text_index is None else LABEL_COLUMNS
            problems.append(
                Problem(Location(file, number, kind), "missing_column", f"no {kind} key; name it one of {names}")
            )
            continue
        value = record[keys[text_index]]
        cells_read.append(
            _Cells(
                number,
                value if isinstance(value, str) else "",
                keys[text_index],
                None if label_index is None else _json_cell(record[keys[label_index]]),
                None if label_index is None else keys[label_index],
                None if emotion_index is None else _json_cell(record[keys[emotion_index]]),
                None if emotion_index is None else keys[emotion_index],
            )
        )
    return cells_read


@dataclass(frozen=True)
class _Scheme:
    """How a file writes its polarity labels: words, 0/1 (binary) or 0/1/2 numbers (three-way)."""

    words: bool
    three_way_numbers: bool
    # The first label cell, and the first 2 of a three-way numbered file (row, cell).
    first: tuple[int, str] | None
    first_two: tuple[int, str] | None


def _scheme(cells: Sequence[_Cells]) -> _Scheme:
    """The file's rule for its labels, from its first label and whether a 2 appears (see the module doc)."""
    tokens = [(c.row, c.label.strip()) for c in cells if c.label is not None and c.label.strip()]
    known = [(row, t) for row, t in tokens if t.lower() in POLARITY_WORDS or t in THREE_WAY_NUMBERS]
    first = known[0] if known else None
    words = first is not None and first[1].lower() in POLARITY_WORDS
    two = next(((row, t) for row, t in known if t in THREE_WAY_NUMBERS and THREE_WAY_NUMBERS[t] == 2), None)
    return _Scheme(words, not words and two is not None, first, None if words else two)


def _polarity(cell: _Cells, scheme: _Scheme, file: str, problems: list[Problem]) -> tuple[bool, int | None]:
    """(ok, three-way index or None) of a row's label cell by its file's scheme; problems appended."""
    if cell.label is None or not cell.label.strip():
        return True, None
    token, where = cell.label.strip(), Location(file, cell.row, cell.label_field)
    word = token.lower() in POLARITY_WORDS
    if not word and token not in THREE_WAY_NUMBERS:
        hint = ""
        if token.lower() in EMOTION_VALUES:
            hint = f"; {token!r} is an emotion: put emotions in a column named emotion or 情绪"
        problems.append(Problem(where, "bad_label", f"{LABEL_RULE}; got {cell.label!r}{hint}"))
        return False, None
    if word != scheme.words and scheme.first is not None:
        problems.append(
            Problem(
                where,
                "bad_label",
                f"label {token!r} and row {scheme.first[0]}'s {scheme.first[1]!r} mix words and numbers: "
                "write a file's labels all as numbers or all as words",
            )
        )
        return False, None
    if word:
        return True, POLARITY_WORDS[token.lower()]
    if scheme.three_way_numbers:
        return True, THREE_WAY_NUMBERS[token]
    return True, POSITIVE if BINARY_LABELS[token] == 1 else 0


def _rows(path: Path, cells: Sequence[_Cells], problems: list[Problem]) -> list[_Row]:
    """The rows of one file with their labels read by the file's scheme; problems appended."""
    file = str(path)
    scheme = _scheme(cells)
    if scheme.first_two is not None:
        problems.append(
            Problem(
                Location(file, scheme.first_two[0], next((c.label_field for c in cells), None)),
                "three_way_numbers",
                "this row's label is 2, so the file's numbers are read as three-way: 0 negative, 1 neutral, "
                "2 positive (if 1 meant positive here, this 2 is a typo); write words to say it plainly",
                "warning",
            )
        )
    read: list[tuple[_Cells, int | None, int | None]] = []
    for cell in cells:
        ok, polarity = _polarity(cell, scheme, file, problems)
        emotion = None
        if cell.emotion is not None and cell.emotion.strip():
            emotion = EMOTION_VALUES.get(cell.emotion.strip().lower())
            if emotion is None:
                where = Location(file, cell.row, cell.emotion_field)
                problems.append(Problem(where, "bad_emotion", f"{EMOTION_RULE}; got {cell.emotion!r}"))
                ok = False
        cleaned = clean_text(cell.text)
        if not cleaned:
            problems.append(
                Problem(
                    Location(file, cell.row, cell.text_field), "empty_text", "empty text; remove the row or fill it"
                )
            )
            ok = False
        if ok and polarity is None and emotion is None:
            field = cell.label_field or cell.emotion_field
            message = (
                f"{LABEL_RULE}; got {cell.label!r}"
                if cell.emotion_field is None
                else "neither a label nor an emotion; give one (or both) or remove the row"
            )
            problems.append(Problem(Location(file, cell.row, field), "bad_label", message))
            ok = False
        if ok:
            read.append((replace_text(cell, cleaned), polarity, emotion))
    # A file that never says "neutral" only tells which way a text leans (see the module docstring).
    two_way = not any(p == NEUTRAL for _, p, _ in read)
    binary_file = two_way and not scheme.words
    return [
        _Row(
            c.row,
            c.text,
            c.text_field,
            p,
            e,
            two_way and p is not None,
            None if not binary_file or p is None else int(p == POSITIVE),
        )
        for c, p, e in read
    ]


def replace_text(cell: _Cells, text: str) -> _Cells:
    """`cell` with its text cleaned."""
    return _Cells(cell.row, text, cell.text_field, cell.label, cell.label_field, cell.emotion, cell.emotion_field)


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
    found: list[Problem] = []
    cells = _jsonl_cells(path, text, found) if suffix in JSONL_SUFFIXES else _table_cells(path, text, found)
    rows = _rows(path, cells, found)
    # Cells are read before labels (a file's labels follow one rule): problems in row order again.
    problems.extend(sorted(found, key=lambda p: p.location.row or 0))
    digest = hashlib.sha256(data).hexdigest()
    summary = FileSummary(
        file,
        digest,
        len(rows),
        sum(r.polarity == POSITIVE for r in rows),
        sum(r.polarity == NEUTRAL for r in rows),
        sum(r.emotion is not None for r in rows),
    )
    return summary, rows


def evaluation_keys(eval_sets: Mapping[str, Path]) -> dict[str, tuple[str, Location]]:
    """match_key → (set name, where) of every text of the evaluation sets (the first one wins)."""
    keys: dict[str, tuple[str, Location]] = {}
    for name, path in eval_sets.items():
        labelled = read_labelled(path)
        for text, row in zip(labelled.texts, labelled.rows, strict=True):
            keys.setdefault(match_key(text), (name, Location(str(path), row)))
    return keys


def data_kind(files: Sequence[Path]) -> DataKind:
    """ "three-way" when any readable row of `files` is neutral or has an emotion, else "binary"
    (problems are left to ``validate``)."""
    rows = [row for path in files for row in read_training_file(path, [])[1]]
    return "three-way" if any(r.polarity == NEUTRAL or r.emotion is not None for r in rows) else "binary"


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
    kept = _deduplicated(read, evaluation_keys(eval_sets), config, problems)
    accepted = tuple(TrainingExample(r.text, r.polarity, r.emotion, r.two_way, f"{file}:{r.row}") for file, r in kept)
    if any(r.polarity == NEUTRAL or r.emotion is not None for r in accepted):
        problems.extend(_three_way_totals(accepted, files, config))
        return ValidationReport(tuple(summaries), tuple(problems), (), accepted, "three-way")
    examples = [Example(int(r.polarity == POSITIVE), r.text, f"{file}:{r.row}") for file, r in kept]
    problems.extend(_totals(examples, files, config))
    return ValidationReport(tuple(summaries), tuple(problems), tuple(examples), accepted, "binary")


def _deduplicated(
    rows: Iterable[tuple[str, _Row]],
    eval_keys: Mapping[str, tuple[str, Location]],
    config: ValidationConfig,
    problems: list[Problem],
) -> list[tuple[str, _Row]]:
    first: dict[str, tuple[Location, _Row]] = {}
    kept: list[tuple[str, _Row]] = []
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
            seen, earlier = first[key]
            if (earlier.polarity, earlier.emotion) != (row.polarity, row.emotion):
                problems.append(
                    Problem(
                        where,
                        "conflicting_label",
                        f"labelled {row.shown()} here but {earlier.shown()} at {seen}; keep one label for this text",
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
        first[key] = (Location(file, row.row), row)
        kept.append((file, row))
    return kept


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


def _three_way_totals(
    rows: Sequence[TrainingExample], files: Sequence[Path], config: ValidationConfig
) -> list[Problem]:
    """Too few rows (an error); a head whose labels are all one class, a rare polarity class (warnings:
    the other rows keep the starting model's reading of that head, see training.multitask_user)."""
    where = Location(", ".join(str(f) for f in files))
    problems = []
    if len(rows) < config.min_rows:
        problems.append(
            Problem(where, "too_few_rows", f"{len(rows)} usable texts; at least {config.min_rows} are needed")
        )
    for head, names, values in (
        ("polarity", LABELS, [r.polarity for r in rows if r.polarity is not None]),
        ("emotion", EMOTIONS, [r.emotion for r in rows if r.emotion is not None]),
    ):
        counts = Counter(values)
        if len(counts) == 1:
            (only,) = counts
            problems.append(
                Problem(
                    where,
                    "one_class",
                    f"every {head} label is {names[only]}: the model learns that class alone from your data",
                    "warning",
                )
            )
        elif head == "polarity" and counts:
            rarest = min(counts, key=lambda k: counts[k])
            share = counts[rarest] / len(values)
            if share < config.min_label_share:
                listed = " / ".join(f"{counts[i]} {name}" for i, name in enumerate(LABELS) if counts[i])
                problems.append(
                    Problem(
                        where,
                        "label_balance",
                        f"unbalanced labels: {listed} ({share:.0%} for {LABELS[rarest]}, "
                        f"below {config.min_label_share:.0%})",
                        "warning",
                    )
                )
    return problems


def write_clean_tsv(examples: Iterable[Example], path: Path) -> str:
    """Write accepted rows (a report's ``examples``, or a share of them) as ``label<TAB>text``
    (training.train's format); returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_tsv(path, examples)


def write_labelled_tsv(rows: Iterable[TrainingExample], path: Path) -> str:
    """Write accepted rows of three-way data as ``label<TAB>emotion<TAB>scope<TAB>text``: the label
    (negative / neutral / positive) and the emotion (English class) in words, empty where the row has
    none; scope "two-way" for a row that trains the negative-vs-positive split alone. Returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(LABELLED_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    "" if r.polarity is None else LABELS[r.polarity],
                    "" if r.emotion is None else EMOTIONS[r.emotion],
                    "two-way" if r.two_way else "",
                    r.text,
                ]
            )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_labelled_tsv(path: Path) -> list[TrainingExample]:
    """The rows `write_labelled_tsv` wrote (their source is the file and row)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        if tuple(next(reader, ())) != LABELLED_COLUMNS:
            raise InputError(
                Location(str(path), 1), f"not a three-way training file (header {'/'.join(LABELLED_COLUMNS)})"
            )
        return [
            TrainingExample(
                text,
                LABELS.index(label) if label else None,
                EMOTIONS.index(emotion) if emotion else None,
                scope == "two-way",
                f"{path}:{number}",
            )
            for number, (label, emotion, scope, text) in enumerate(reader, start=2)
        ]


__all__ = [
    "LABELLED_COLUMNS",
    "DataKind",
    "FileSummary",
    "Problem",
    "TrainingDataError",
    "TrainingExample",
    "ValidationConfig",
    "ValidationReport",
    "data_kind",
    "evaluation_keys",
    "label_counts",
    "read_labelled_tsv",
    "read_training_file",
    "validate",
    "write_clean_tsv",
    "write_labelled_tsv",
]
