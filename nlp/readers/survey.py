"""Survey exports (CSV/TSV/semicolon, XLSX, JSON Lines): one answer per row.

Each format becomes a Table (headers + numbered rows); the columns are then mapped to canonical
fields — as given, by header synonym, by a question keyword confirmed by the values, or, for the
text only, by the values alone — and every row becomes an Item or a RowProblem.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlp.errors import InputError, Location, RowProblem
from nlp.readers.columns import (
    HEADER_KEYWORDS,
    SCORE_RANGES,
    build_meta,
    canonical_header,
    clean_value,
    header_key,
    is_blank,
    meta_key,
    parse_score,
)
from nlp.readers.encoding import split_lines
from nlp.readers.transcript_jsonl import ReaderOutput
from nlp.schema import Item


@dataclass(frozen=True)
class InferenceLimits:
    """How sure the value checks must be before a column is taken for a field."""

    score_share: float = 0.8  # of non-blank values that parse as an in-range nps/csat score
    text_share: float = 0.5  # of non-blank values that contain Chinese (text column)
    min_mean_chinese: float = 4.0  # mean Chinese characters per value for a guessed text column
    max_title_rows: int = 3  # one-cell title rows ("2026年11月回访问卷") skipped above the header
    sniff_lines: int = 20  # lines looked at to choose the CSV delimiter


LIMITS = InferenceLimits()
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DELIMITERS = (",", "\t", ";", "|")
# Answers that say nothing: only punctuation and ASCII symbols ("/", "——", "。。。"), or an export's
# spelling of "missing". Emoji are not nothing: 😡 is an answer.
_MISSING = frozenset({"n/a", "na", "null", "none", "nan", "#n/a"})


def says_nothing(text: str) -> bool:
    """True for a blank answer, punctuation only, or a missing-value marker (N/A, null, nan)."""
    if text.lower() in _MISSING:
        return True
    return all(unicodedata.category(char)[0] in "PZ" or char in "/\\|~`^+=*#<>$@&%" for char in text)


@dataclass
class Table:
    """A survey as read: headers, and (row number in the file, cells aligned to the headers)."""

    headers: list[str]
    rows: list[tuple[int, list[object]]]
    header_row: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def _filled(cells: Sequence[object]) -> int:
    return sum(not is_blank(cell) for cell in cells)


def _is_title(cells: Sequence[object], following: Sequence[object]) -> bool:
    """A title row above the header: one filled cell, in the first column, not a known header,
    followed by a row of several cells."""
    if _filled(cells) != 1 or is_blank(cells[0]) or _filled(following) < 2:
        return False
    return canonical_header(str(cells[0])) is None


def _table(raw: list[tuple[int, list[object]]], file: str, ragged_ok: bool, limits: InferenceLimits) -> Table:
    """Find the header row (skipping one-cell title rows), name blank headers, align the rows."""
    rows = [(number, cells) for number, cells in raw if _filled(cells)]
    if not rows:
        raise InputError(Location(file), "no rows: the file has no header and no answers")
    skip = 0
    while skip < min(limits.max_title_rows, len(rows) - 1) and _is_title(rows[skip][1], rows[skip + 1][1]):
        skip += 1
    header_row, header_cells = rows[skip]
    width = len(header_cells)
    if ragged_ok:
        width = max(len(cells) for _, cells in rows)
    headers = [
        (cell.strip() if isinstance(cell, str) else str(clean_value(cell)))
        if not is_blank(cell)
        else f"column_{index + 1}"
        for index, cell in enumerate([*header_cells, *[None] * (width - len(header_cells))])
    ]
    body: list[tuple[int, list[object]]] = []
    for number, cells in rows[skip + 1 :]:
        if len(cells) > width and _filled(cells[width:]):
            raise InputError(
                Location(file, number, f"column {width + 1}"),
                f"row has {len(cells)} fields but the header has {width}; quote fields that contain the delimiter",
            )
        body.append((number, [*cells[:width], *[None] * (width - len(cells))]))
    return Table(headers, body, header_row)


def _sniff_delimiter(text: str, preferred: str, limits: InferenceLimits) -> str:
    """The delimiter that splits the first lines into the most consistent rows of >1 field."""
    sample = "\n".join([line for line in split_lines(text) if line.strip()][: limits.sniff_lines])
    best, best_score = preferred, (False, 0, 0)
    for delimiter in (preferred, *[d for d in _DELIMITERS if d != preferred]):
        widths = [len(cells) for cells in csv.reader(io.StringIO(sample), delimiter=delimiter) if cells]
        if not widths:
            continue
        score = (widths[0] > 1, sum(width == widths[0] for width in widths), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _locate_quote_error(lines: Sequence[str], start: int, delimiter: str) -> tuple[int, int]:
    """(1-based line, 0-based column) of the quoting error in the record starting after line `start`:
    a closing quote followed by something else than a delimiter, or a quote never closed."""
    column, opened_at, quoted = 0, start + 1, False
    for number in range(start, len(lines)):
        line, at_field_start, index = lines[number], True, 0
        while index < len(line):
            char = line[index]
            if quoted and char == '"':
                if line[index + 1 : index + 2] == '"':
                    index += 1  # a doubled quote inside a quoted field
                elif index + 1 < len(line) and line[index + 1] != delimiter:
                    return number + 1, column
                else:
                    quoted = False
            elif not quoted and char == delimiter:
                column, at_field_start = column + 1, True
                index += 1
                continue
            elif not quoted and char == '"' and at_field_start:
                quoted, opened_at = True, number + 1
            at_field_start = False
            index += 1
        if not quoted:
            break
    return opened_at, column


def csv_table(text: str, file: str, tab_first: bool, limits: InferenceLimits = LIMITS) -> Table:
    """A CSV/TSV/semicolon table; the delimiter is sniffed (an Excel "sep=;" line is obeyed).
    Row numbers are the line where each record starts. Bad quoting rejects the file."""
    first, _, rest = text.partition("\n")
    sep = re.fullmatch(r"sep=(.)\r?", first)
    skipped = 0
    if sep:
        delimiter, text, skipped = sep.group(1), rest, 1
    else:
        delimiter = _sniff_delimiter(text, "\t" if tab_first else ",", limits)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    raw: list[tuple[int, list[object]]] = []
    previous = 0
    try:
        for cells in reader:
            raw.append((previous + 1 + skipped, list(cells)))
            previous = reader.line_num
    except csv.Error as error:
        line, column = _locate_quote_error(split_lines(text), previous, delimiter)
        header = raw[0][1] if raw else []
        field_name = str(header[column]) if column < len(header) and header[column] else f"column {column + 1}"
        raise InputError(
            Location(file, line + skipped, field_name),
            f"malformed CSV: {error}; a field with quotes must be wholly quoted, with inner quotes doubled",
        ) from None
    table = _table(raw, file, ragged_ok=False, limits=limits)
    table.extra["delimiter"] = delimiter
    return table


def xlsx_table(data: bytes, file: str, limits: InferenceLimits = LIMITS) -> Table:
    """The first worksheet of an XLSX workbook (cached values, not formulas)."""
    # Imported here: openpyxl takes a fifth of a second to import, and most inputs are text.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as error:
        raise InputError(Location(file), f"not a readable XLSX workbook: {error}") from None
    try:
        if not workbook.worksheets:
            raise InputError(Location(file), "the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        title = sheet.title
        # Some writers store a wrong sheet size; read every row actually present.
        sheet.reset_dimensions()
        raw = [(number, list(cells)) for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        workbook.close()
    table = _table(raw, file, ragged_ok=True, limits=limits)
    table.extra["sheet"] = title
    return table


def jsonl_table(records: Sequence[tuple[int, dict[str, Any]]], file: str) -> Table:
    """A table from JSON records: keys are headers; a nested "meta" object is flattened."""
    flat: list[tuple[int, dict[str, Any]]] = []
    headers: dict[str, None] = {}
    for number, record in records:
        row = {key: value for key, value in record.items() if not (key == "meta" and isinstance(value, dict))}
        if isinstance(record.get("meta"), dict):
            row.update({key: value for key, value in record["meta"].items() if key not in row})
        flat.append((number, row))
        headers.update(dict.fromkeys(row))
    names = list(headers)
    if not names:
        raise InputError(Location(file), "no fields: every JSON object is empty")
    return Table(names, [(number, [row.get(name) for name in names]) for number, row in flat], None)


@dataclass(frozen=True)
class ColumnPlan:
    """Which column holds each field and how that was decided; the other columns' metadata keys."""

    fields: dict[str, int]
    how: dict[str, str]
    meta_keys: dict[int, str]


def _column_values(table: Table, index: int) -> list[object]:
    return [cells[index] for _, cells in table.rows if not is_blank(cells[index])]


def _share(values: Sequence[object], test: Callable[[object], bool]) -> float:
    return sum(1 for value in values if test(value)) / len(values) if values else 0.0


def _scores_fit(values: Sequence[object], canonical: str, limits: InferenceLimits) -> bool:
    def fits(value: object) -> bool:
        try:
            parse_score(value, canonical)
        except ValueError:
            return False
        return True

    return _share(values, fits) >= limits.score_share


def _chinese_share(values: Sequence[object]) -> float:
    return _share(values, lambda value: isinstance(value, str) and _CHINESE.search(value) is not None)


def plan_columns(
    table: Table, file: str, given: Mapping[str, str] | None, limits: InferenceLimits = LIMITS
) -> ColumnPlan:
    """Map columns to fields: given mapping, header synonyms, question keywords (values must agree),
    and for the text the column of longest Chinese values. Raises InputError when no text column."""
    fields: dict[str, int] = {}
    how: dict[str, str] = {}
    keys = [header_key(header) for header in table.headers]
    for canonical, header in (given or {}).items():
        matches = [i for i, name in enumerate(table.headers) if name == header] or [
            i for i, key in enumerate(keys) if key == header_key(header)
        ]
        if not matches:
            raise InputError(
                Location(file, table.header_row, header),
                f"column {header!r} given for {canonical!r} is not in the file; headers: {table.headers}",
            )
        if matches[0] in fields.values():
            raise InputError(Location(file, table.header_row, header), f"column {header!r} is given twice")
        fields[canonical], how[canonical] = matches[0], "given"
    free = [i for i in range(len(table.headers)) if i not in fields.values()]
    for index in free:
        named = canonical_header(table.headers[index])
        if named is not None and named not in fields:
            fields[named], how[named] = index, "header"
    for canonical, words in HEADER_KEYWORDS.items():
        if canonical in fields:
            continue
        for index in [i for i in free if i not in fields.values()]:
            if not any(word in keys[index] for word in words):
                continue
            values = _column_values(table, index)
            if canonical in SCORE_RANGES:
                agrees = _scores_fit(values, canonical, limits)
            else:
                agrees = _chinese_share(values) >= limits.text_share
            if agrees:
                fields[canonical], how[canonical] = index, "keyword"
                break
    if "text" not in fields:
        fields["text"], how["text"] = _guess_text(table, file, set(fields.values()), limits), "values"
    meta_keys: dict[int, str] = {}
    taken = set(fields)
    for index, header in enumerate(table.headers):
        if index in fields.values():
            continue
        key, suffix = meta_key(header), 2
        while key in taken:
            key, suffix = f"{meta_key(header)}#{suffix}", suffix + 1
        meta_keys[index] = key
        taken.add(key)
    return ColumnPlan(fields, how, meta_keys)


def _guess_text(table: Table, file: str, used: set[int], limits: InferenceLimits) -> int:
    best, best_mean = -1, 0.0
    for index in range(len(table.headers)):
        values = _column_values(table, index)
        if index in used or _chinese_share(values) < limits.text_share:
            continue
        mean = sum(len(_CHINESE.findall(str(value))) for value in values) / len(values)
        if mean >= limits.min_mean_chinese and mean > best_mean:
            best, best_mean = index, mean
    if best < 0:
        raise InputError(
            Location(file, table.header_row, "text"),
            f"no text column: no header names one (text, 回答, 内容, 意见, 评价 …) and no column holds "
            f"Chinese sentences; headers seen: {table.headers}. Give the mapping (text=<header>).",
        )
    return best


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip().strip("\ufeff\u200b").strip()
    return str(clean_value(value))


def read_survey(table: Table, file: str, stem: str, given: Mapping[str, str] | None) -> ReaderOutput:
    """Items from a survey table: text kept as written, id (or f"{stem}-{row}"), typed metadata.

    Problems name a mapped field by its canonical name ("text", "nps", "date"; the report's
    "columns" gives the header) and say the column as written in the message.
    """
    plan = plan_columns(table, file, given)
    text_index = plan.fields["text"]
    items: list[tuple[int, Item]] = []
    problems: list[RowProblem] = []
    for row, cells in table.rows:
        text = _cell_text(cells[text_index])
        if says_nothing(text):
            shown = f" ({text!r})" if text else ""
            message = f"empty text{shown} in column {table.headers[text_index]!r}; row skipped"
            problems.append(RowProblem(Location(file, row, "text"), message))
            continue
        id_index = plan.fields.get("id")
        item_id = _cell_text(cells[id_index]) if id_index is not None else ""
        entries = [
            (canonical, canonical, cells[index])
            for canonical, index in plan.fields.items()
            if canonical not in ("text", "id")
        ]
        entries += [(key, table.headers[index], cells[index]) for index, key in plan.meta_keys.items()]
        meta, meta_problems = build_meta(entries)
        for name, message in meta_problems:
            header = table.headers[plan.fields[name]] if name in plan.fields else name
            problems.append(RowProblem(Location(file, row, name), f"{message} (column {header!r})"))
        item = Item(id=item_id or f"{stem}-{row}", kind="survey", text=text, meta=meta, source=f"{file}:{row}")
        items.append((row, item))
    report: dict[str, Any] = {
        "rows": len(table.rows),
        "columns": {canonical: table.headers[index] for canonical, index in plan.fields.items()},
        "inference": plan.how,
        "guessed": sorted(c for c, how in plan.how.items() if how in ("keyword", "values")),
        "header_row": table.header_row,
        **table.extra,
    }
    return items, problems, report
