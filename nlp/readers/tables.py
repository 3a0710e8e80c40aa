"""Survey exports as numbered rows of cells, read one row at a time: CSV/TSV/semicolon text, the
first sheet of an XLSX workbook, JSON records with a nested "meta" flattened.

Bad quoting or an unreadable workbook rejects the input (InputError naming file, line and field).
"""

from __future__ import annotations

import csv
import itertools
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from nlp.errors import InputError, Location

Row = tuple[int, list[object]]
_DELIMITERS = (",", "\t", ";", "|")
_EXCEL_SEP = re.compile(r"sep=(.)\r?")
# Lines looked at, at most, to find `sniff_lines` non-blank ones for the delimiter.
MAX_SNIFF_SCAN = 10_000


def _strip_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(("\n", "\r")) else line


def _sniff_delimiter(lines: Sequence[str], preferred: str) -> str:
    """The delimiter that splits the first lines into the most consistent rows of >1 field.

    Rows are compared with the commonest width, not the first row's: a one-cell title row above
    the header ("2026年11月回访问卷") must not make every delimiter look equally bad.
    """
    best, best_score = preferred, (False, 0, 0)
    for delimiter in (preferred, *[d for d in _DELIMITERS if d != preferred]):
        widths = [len(cells) for cells in csv.reader([line + "\n" for line in lines], delimiter=delimiter) if cells]
        if not widths:
            continue
        usual, count = Counter(widths).most_common(1)[0]
        score = (usual > 1, count, usual)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _locate_quote_error(lines: Iterable[str], start: int, delimiter: str) -> tuple[int, int]:
    """(1-based line, 0-based column) of the quoting error in the record whose lines are `lines`
    (the first being line `start` + 1): a closing quote followed by something else than a
    delimiter, or a quote never closed."""
    column, opened_at, quoted = 0, start + 1, False
    for number, line in enumerate(lines, start=start):
        at_field_start, index = True, 0
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


def csv_rows(
    lines: Iterable[str], file: str, tab_first: bool, extra: dict[str, Any], sniff_lines: int
) -> Iterator[Row]:
    """Records of CSV/TSV/semicolon text given as lines with their endings (see raw_lines),
    numbered by the line where each starts. The delimiter is sniffed from the first `sniff_lines`
    non-blank lines (an Excel "sep=;" line is obeyed) and put in `extra`. Bad quoting raises."""
    source = iter(lines)
    head = list(itertools.islice(source, 1))
    sep = _EXCEL_SEP.fullmatch(head[0].removesuffix("\n")) if head else None
    skipped = 0
    if sep:
        delimiter, head, skipped = sep.group(1), [], 1
    else:
        filled = [_strip_ending(line) for line in head if _strip_ending(line).strip()]
        for line in source:
            head.append(line)
            if _strip_ending(line).strip():
                filled.append(_strip_ending(line))
            if len(filled) >= sniff_lines or len(head) >= MAX_SNIFF_SCAN:
                break
        delimiter = _sniff_delimiter(filled[:sniff_lines], "\t" if tab_first else ",")
    extra["delimiter"] = delimiter
    record: list[str] = []  # the lines of the record being read, to locate a quoting error

    def recorded() -> Iterator[str]:
        for line in itertools.chain(head, source):
            record.append(line)
            yield line

    reader = csv.reader(recorded(), delimiter=delimiter, strict=True)
    previous = 0
    first: list[str] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            rest = (_strip_ending(line) for line in itertools.chain(record, source))
            where, column = _locate_quote_error(rest, previous, delimiter)
            header = first or []
            field_name = str(header[column]) if column < len(header) and header[column] else f"column {column + 1}"
            raise InputError(
                Location(file, where + skipped, field_name),
                f"malformed CSV: {error}; a field with quotes must be wholly quoted, with inner quotes doubled",
            ) from None
        record.clear()
        if first is None:
            first = cells
        yield previous + 1 + skipped, list(cells)
        previous = reader.line_num


def xlsx_rows(stream: BinaryIO, file: str, extra: dict[str, Any]) -> Iterator[Row]:
    """Rows of the first worksheet of an XLSX workbook (cached values, not formulas), read with
    openpyxl's read-only mode; the sheet's title goes in `extra`. The workbook is closed when the
    rows are exhausted or the iterator is closed."""
    # Imported here: openpyxl takes a fifth of a second to import, and most inputs are text.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as error:
        raise InputError(Location(file), f"not a readable XLSX workbook: {error}") from None
    try:
        if not workbook.worksheets:
            raise InputError(Location(file), "the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        extra["sheet"] = sheet.title
        # Some writers store a wrong sheet size; read every row actually present.
        sheet.reset_dimensions()
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        workbook.close()


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON survey record with its nested "meta" object's keys beside the others (outer keys win)."""
    row = {key: value for key, value in record.items() if not (key == "meta" and isinstance(value, dict))}
    if isinstance(record.get("meta"), dict):
        row.update({key: value for key, value in record["meta"].items() if key not in row})
    return row
