"""The per-row checks of one training file: its labels read by the file's scheme (words, 0/1 or 0/1/2
numbers, see training.validate), emotions, empty texts, rows with neither label; ``read_training_file``
reads a file into its summary and accepted rows."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.evaluate import EMOTION_RULE, EMOTION_VALUES, LABEL_RULE, POLARITY_WORDS, THREE_WAY_NUMBERS
from nlp.errors import InputError, Location
from nlp.readers.encoding import decode_bytes
from nlp.schema import EMOTIONS, LABELS
from training.pool import clean_text
from training.validate.cells import JSONL_SUFFIXES, TABLE_SUFFIXES, Cells, jsonl_cells, table_cells
from training.validate.report import FileSummary, Problem

# Binary labels (1 = positive) as they are written; three-way ones are read by models.evaluate's rule.
BINARY_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
NEUTRAL = LABELS.index("neutral")
POSITIVE = LABELS.index("positive")


@dataclass(frozen=True)
class Row:
    """A row of one file that passed its own checks: where it is, its cleaned text and its labels."""

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


@dataclass(frozen=True)
class _Scheme:
    """How a file writes its polarity labels: words, 0/1 (binary) or 0/1/2 numbers (three-way)."""

    words: bool
    three_way_numbers: bool
    # The first label cell, and the first 2 of a three-way numbered file (row, cell).
    first: tuple[int, str] | None
    first_two: tuple[int, str] | None


def _scheme(cells: Sequence[Cells]) -> _Scheme:
    """The file's rule for its labels, from its first label and whether a 2 appears (see training.validate)."""
    tokens = [(c.row, c.label.strip()) for c in cells if c.label is not None and c.label.strip()]
    known = [(row, t) for row, t in tokens if t.lower() in POLARITY_WORDS or t in THREE_WAY_NUMBERS]
    first = known[0] if known else None
    words = first is not None and first[1].lower() in POLARITY_WORDS
    two = next(((row, t) for row, t in known if t in THREE_WAY_NUMBERS and THREE_WAY_NUMBERS[t] == 2), None)
    return _Scheme(words, not words and two is not None, first, None if words else two)


def _polarity(cell: Cells, scheme: _Scheme, file: str, problems: list[Problem]) -> tuple[bool, int | None]:
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


def labelled_rows(path: Path, cells: Sequence[Cells], problems: list[Problem]) -> list[Row]:
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
    read: list[tuple[Cells, int | None, int | None]] = []
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
            read.append((dataclasses.replace(cell, text=cleaned), polarity, emotion))
    # A file that never says "neutral" only tells which way a text leans (see training.validate).
    two_way = not any(p == NEUTRAL for _, p, _ in read)
    binary_file = two_way and not scheme.words
    return [
        Row(
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


def read_training_file(path: Path, problems: list[Problem]) -> tuple[FileSummary | None, list[Row]]:
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
    cells = jsonl_cells(path, text, found) if suffix in JSONL_SUFFIXES else table_cells(path, text, found)
    rows = labelled_rows(path, cells, found)
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


__all__ = ["BINARY_LABELS", "NEUTRAL", "POSITIVE", "Row", "labelled_rows", "read_training_file"]
