"""The cells of one training file before its labels are read: CSV/TSV (delimiter and columns found as
``models.evaluate.read_labelled`` finds them) or JSONL, every row with its text and its raw label and
emotion cells; a missing column and a row with the wrong number of fields are problems."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.evaluate import EMOTION_COLUMNS, LABEL_COLUMNS, TEXT_COLUMNS, detect_delimiter, find_column
from nlp.errors import Location
from training.validate.report import Problem

TABLE_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}


@dataclass(frozen=True)
class Cells:
    """One data row of a file before its labels are read: the text and the raw label/emotion cells
    (None where the file has no such column) with their field names."""

    row: int
    text: str
    text_field: str
    label: str | None
    label_field: str | None
    emotion: str | None
    emotion_field: str | None


def _missing(file: str, kind: str, headers: Sequence[str], names: Sequence[str], extra: str = "") -> Problem:
    return Problem(
        Location(file, 1, kind),
        "missing_column",
        f"no {kind} column: the header is {list(headers)!r}; name it one of {', '.join(names)}{extra}",
    )


def table_cells(path: Path, text: str, problems: list[Problem]) -> list[Cells]:
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

    cells_read: list[Cells] = []
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
            Cells(
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


def jsonl_cells(path: Path, text: str, problems: list[Problem]) -> list[Cells]:
    file = str(path)
    cells_read: list[Cells] = []
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
            Cells(
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


__all__ = ["JSONL_SUFFIXES", "TABLE_SUFFIXES", "Cells", "jsonl_cells", "table_cells"]
