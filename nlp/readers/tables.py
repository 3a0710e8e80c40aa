"""Survey exports as numbered rows of cells, read one row at a time: CSV/TSV/semicolon text, the
first sheet of an XLSX workbook, JSON records with a nested "meta" flattened.

Bad quoting or an unreadable workbook rejects the input (InputError naming file, line and field),
and so does one over the SizeLimits (nlp.readers.limits: cells, a cell's length, columns, a sheet's
rows, what a workbook inflates to), checked as each row is read.
"""

from __future__ import annotations

import csv
import itertools
import re
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from nlp.errors import InputError, Location
from nlp.readers.limits import SIZE_LIMITS, InputTooLargeError, SizeLimits, check_workbook_zip

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
        try:
            widths = [len(cells) for cells in csv.reader([line + "\n" for line in lines], delimiter=delimiter) if cells]
        except csv.Error:
            continue  # a field past the field limit: reading the file says where
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


_FIELD_LIMIT_LOCK = threading.Lock()


def _allow_fields_of(chars: int) -> None:
    """Raise the csv module's field limit (one per process, 131,072 characters by default) to
    `chars`; never lower it, as another reader may need more. The limit guards memory: a longer
    field is refused before it is read whole."""
    with _FIELD_LIMIT_LOCK:
        if csv.field_size_limit() < chars:
            csv.field_size_limit(chars)


def _long_field_column(lines: Iterable[str], delimiter: str, chars: int) -> int:
    """The 0-based column of the first field longer than `chars` in a record's lines."""
    column, length, quoted = 0, 0, False
    for line in lines:
        index = 0
        while index < len(line):
            char = line[index]
            if char == '"' and (quoted or length == 0):
                if quoted and line[index + 1 : index + 2] == '"':
                    index += 1  # a doubled quote inside a quoted field
                    length += 1
                else:
                    quoted = not quoted
            elif char == delimiter and not quoted:
                column, length = column + 1, 0
            else:
                length += 1
                if length > chars:
                    return column
            index += 1
    return column


def _field_name(header: Sequence[object], column: int) -> str:
    name = header[column] if column < len(header) else None
    return str(name) if name not in (None, "") else f"column {column + 1}"


class _TableBudget:
    """The SizeLimits of one table's rows, checked as each row is read."""

    def __init__(self, file: str, limits: SizeLimits, hint: str = "") -> None:
        self.file, self.limits, self.hint, self.cells = file, limits, hint, 0

    def check(self, row: int, cells: Sequence[object], header: Sequence[object]) -> None:
        limits = self.limits
        if len(cells) > limits.max_columns:
            raise InputTooLargeError(
                Location(self.file, row, f"column {limits.max_columns + 1}"),
                f"{len(cells):,} columns; at most {limits.max_columns:,}",
                "max_columns",
            )
        self.cells += len(cells)
        if limits.max_cells is not None and self.cells > limits.max_cells:
            raise InputTooLargeError(
                Location(self.file, row),
                f"reading stopped at row {row}: more than {limits.max_cells:,} cells; at most "
                f"{limits.max_cells:,} per input (split the file)",
                "max_cells",
            )
        for column, cell in enumerate(cells):
            if isinstance(cell, str) and len(cell) > limits.max_cell_chars:
                raise self.long_cell(row, _field_name(header or cells, column), len(cell))

    def long_cell(self, row: int, field: str, chars: int | None = None) -> InputTooLargeError:
        most = self.limits.max_cell_chars
        held = f"{chars:,} characters; at most {most:,}" if chars is not None else f"more than {most:,} characters"
        return InputTooLargeError(
            Location(self.file, row, field),
            f"a cell of {held}, the most one cell may hold{self.hint}",
            "max_cell_chars",
        )


def csv_rows(
    lines: Iterable[str],
    file: str,
    tab_first: bool,
    extra: dict[str, Any],
    sniff_lines: int,
    limits: SizeLimits = SIZE_LIMITS,
) -> Iterator[Row]:
    """Records of CSV/TSV/semicolon text given as lines with their endings (see raw_lines),
    numbered by the line where each starts. The delimiter is sniffed from the first `sniff_lines`
    non-blank lines (an Excel "sep=;" line is obeyed) and put in `extra`. Bad quoting raises, and
    so does a record over `limits` (InputTooLargeError naming the line and field)."""
    _allow_fields_of(limits.max_cell_chars)  # the delimiter sniffing reads fields too
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

    budget = _TableBudget(file, limits, "; a quote never closed would join the rest of the file into one cell")
    reader = csv.reader(recorded(), delimiter=delimiter, strict=True)
    previous = 0
    first: list[str] | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            header = first or []
            if "field larger than field limit" in str(error):
                column = _long_field_column(record, delimiter, limits.max_cell_chars)
                raise budget.long_cell(previous + 1 + skipped, _field_name(header, column)) from None
            rest = (_strip_ending(line) for line in itertools.chain(record, source))
            where, column = _locate_quote_error(rest, previous, delimiter)
            raise InputError(
                Location(file, where + skipped, _field_name(header, column)),
                f"malformed CSV: {error}; a field with quotes must be wholly quoted, with inner quotes doubled",
            ) from None
        record.clear()
        budget.check(previous + 1 + skipped, cells, first or cells)
        if first is None:
            first = cells
        yield previous + 1 + skipped, list(cells)
        previous = reader.line_num


# What openpyxl and zipfile raise for a damaged or hostile workbook: a ZIP that is not a workbook
# (XML that does not parse is a SyntaxError), a part missing or of the wrong type, data that fails
# its CRC or does not inflate.
_WORKBOOK_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    SyntaxError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    EOFError,
    OSError,
    NotImplementedError,
)


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def xlsx_rows(stream: BinaryIO, file: str, extra: dict[str, Any], limits: SizeLimits = SIZE_LIMITS) -> Iterator[Row]:
    """Rows of the first worksheet of an XLSX workbook (cached values, not formulas), read with
    openpyxl's read-only mode, one row at a time; the sheet's title goes in `extra`. The ZIP
    directory is checked against `limits` first (a compression bomb is refused before anything is
    inflated), and rows, cells and a cell's length as each row is read. The workbook is closed when
    the rows are exhausted or the iterator is closed."""
    # Imported here: openpyxl takes a fifth of a second to import, and most inputs are text.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    check_workbook_zip(stream, file, limits)
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except (InvalidFileException, *_WORKBOOK_ERRORS) as error:
        raise InputError(
            Location(file), f"not a readable XLSX workbook: {_reason(error)}; save it again from Excel, or as CSV"
        ) from None
    try:
        if not workbook.worksheets:
            raise InputError(Location(file), "the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        extra["sheet"] = sheet.title
        # Some writers store a wrong sheet size; read every row actually present.
        sheet.reset_dimensions()
        budget = _TableBudget(file, limits)
        rows = sheet.iter_rows(values_only=True)
        header: Sequence[object] = ()
        number = 0
        while True:
            try:
                cells = next(rows, None)
            except _WORKBOOK_ERRORS as error:
                raise InputError(
                    Location(file, number + 1),
                    f"the worksheet {sheet.title!r} is damaged after row {number}: {_reason(error)}",
                ) from None
            if cells is None:
                return
            number += 1
            if number > limits.max_sheet_rows:
                raise InputTooLargeError(
                    Location(file, number),
                    f"the worksheet {sheet.title!r} has more than {limits.max_sheet_rows:,} rows, more than "
                    "a spreadsheet holds",
                    "max_sheet_rows",
                )
            budget.check(number, cells, header or cells)
            if not header and any(cell not in (None, "") for cell in cells):
                header = cells
            yield number, list(cells)
    finally:
        workbook.close()


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON survey record with its nested "meta" object's keys beside the others (outer keys win)."""
    row = {key: value for key, value in record.items() if not (key == "meta" and isinstance(value, dict))}
    if isinstance(record.get("meta"), dict):
        row.update({key: value for key, value in record["meta"].items() if key not in row})
    return row
