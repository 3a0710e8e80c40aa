"""Hostile inputs: damaged workbooks, compression bombs, over-long cells and too many rows are each
refused with an InputError naming file, row and field, while the input is read — never a crash."""

from __future__ import annotations

import csv
import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Sequence

import openpyxl
import pytest

from nlp.errors import InputError
from nlp.readers import STREAM_LIMITS, InputTooLargeError, SizeLimits, StreamLimits, iter_bytes, read_bytes
from nlp.readers.limits import SIZE_LIMITS

SHEET = "xl/worksheets/sheet1.xml"
ROW = '<row><c t="inlineStr"><is><t>快递太慢</t></is></c></row>'


def _workbook(rows: Sequence[Sequence[object]] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows or [["编号", "回答"], ["1", "快递太慢了"], ["2", "客服态度很好"]]:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _with_sheet(body: Callable[[Callable[[bytes], object]], object], level: int = 6) -> bytes:
    """A real workbook whose first sheet's rows are what `body` writes, streamed into the ZIP (the
    sheet is never held whole), before the sheet's closing tags."""
    source = zipfile.ZipFile(io.BytesIO(_workbook()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target:
        for part in source.infolist():
            data = source.read(part.filename)
            if part.filename != SHEET:
                target.writestr(part, data)
                continue
            head, tail = data.split(b"</sheetData>")
            with target.open(SHEET, "w", force_zip64=True) as sheet:
                sheet.write(head)
                body(sheet.write)
                sheet.write(b"</sheetData>" + tail)
    return out.getvalue()


def _refusal(data: bytes, name: str, limits: StreamLimits | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        read_bytes(data, name, limits=limits or STREAM_LIMITS)
    return caught.value


def _zip(parts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_zip({"[Content_Types].xml": "<junk"}), "not a readable XLSX workbook"),  # the reproduction
        (_zip({"word/document.xml": "<w:document/>"}), "not a readable XLSX workbook"),
        (b"PK\x03\x04" + b"\x00" * 40, "not a readable XLSX workbook"),
        ("编号,回答\n1,快递太慢\n".encode(), "not a readable XLSX workbook"),
        (b"", "not a readable XLSX workbook"),
    ],
)
def test_a_file_that_is_not_a_workbook_is_an_input_error(data: bytes, says: str) -> None:
    error = _refusal(data, "回访.xlsx")
    assert not isinstance(error, InputTooLargeError)
    assert error.location.file == "回访.xlsx" and says in error.message
    assert "\n" not in str(error)  # one line, as the CLI prints it


def test_a_sheet_damaged_half_way_names_the_row_after_the_last_good_one() -> None:
    def rows(write: Callable[[bytes], object]) -> None:
        write((ROW * 3).encode() + b"<row><c><v>1</v></c><row>")  # never closed

    error = _refusal(_with_sheet(rows), "damaged.xlsx")
    assert error.location.row is not None and error.location.row >= 4
    assert "damaged" in error.message


def test_a_part_longer_than_its_zip_directory_says_fails_its_check_not_the_reader() -> None:
    """zipfile inflates a part only to its declared size, so a directory that understates a sheet
    cannot smuggle in more than the limits allow: reading it stops with an InputError."""
    data = bytearray(_workbook([["编号", "回答"], *[[str(i), "物流太慢了，等了一个星期"] for i in range(200)]]))
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo(SHEET)
    declared = 600
    # The uncompressed size is at offset 22 of the local header and 24 of the central directory entry.
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    entry = bytes(data).index(b"PK\x01\x02")  # the central directory entries, one per part
    while not bytes(data[entry + 46 :]).startswith(SHEET.encode()):
        entry = bytes(data).index(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 24, declared)
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(SHEET).file_size == declared
    error = _refusal(bytes(data), "understated.xlsx")
    assert error.location.file == "understated.xlsx"


def test_the_two_million_row_bomb_is_refused_before_anything_inflates() -> None:
    """The issue's 345 KB workbook whose sheet inflates to 2,000,000 rows (120 MB)."""
    row = (ROW * 10_000).encode()
    data = _with_sheet(lambda write: [write(row) for _ in range(200)])
    assert len(data) < 400_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        error = _refusal(data, "bomb.xlsx")
        took = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, InputTooLargeError) and error.limit == "max_zip_ratio"
    assert (error.location.file, error.location.field) == ("bomb.xlsx", SHEET)
    assert "compression bomb" in error.message and "120,000" in error.message
    assert took < 5 and peak < 20 * 1024 * 1024


def test_a_workbook_of_whitespace_is_refused_by_its_ratio() -> None:
    """As the issue's 1.5 MB file inflating to 1.5 GB of whitespace, at a tenth of the scale."""
    block = b" " * (1 << 20)
    data = _with_sheet(lambda write: [write(block) for _ in range(150)], level=9)
    assert len(data) < 300_000
    error = _refusal(data, "blank.xlsx")
    assert isinstance(error, InputTooLargeError) and error.limit == "max_zip_ratio"


def test_a_workbook_inflating_past_the_total_is_refused_whatever_its_ratio() -> None:
    data = _workbook([["编号", "回答"], *[[str(i), f"第{i}位客户：物流太慢了"] for i in range(3000)]])
    assert read_bytes(data, "ok.xlsx").report["rows"] == 3000
    limits = StreamLimits(size=SizeLimits(max_unzipped_bytes=100_000))
    error = _refusal(data, "big.xlsx", limits)
    assert isinstance(error, InputTooLargeError) and error.limit == "max_unzipped_bytes"
    assert "100,000 bytes" in error.message


def test_rows_past_the_item_limit_are_refused_while_reading_in_flat_memory() -> None:
    """A sheet that inflates fairly (distinct rows) but holds far too many answers: refused at
    the row past the limit, not after reading them all."""

    def rows(write: Callable[[bytes], object]) -> None:
        cell = '<c t="inlineStr"><is><t>{}</t></is></c>'
        for start in range(0, 200_000, 1000):
            block = (
                f"<row>{cell.format(i)}{cell.format(f'第{i}单快递太慢')}</row>" for i in range(start, start + 1000)
            )
            write("".join(block).encode())

    data = _with_sheet(rows)
    limits = StreamLimits(size=SizeLimits(max_items=1000))
    tracemalloc.start()
    try:
        error = _refusal(data, "many.xlsx", limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, InputTooLargeError) and error.limit == "max_items"
    assert "1001 items; at most 1000" in error.message
    assert error.location.row is not None and 1000 < error.location.row < 1010
    assert peak < 30 * 1024 * 1024


def test_blank_rows_count_as_cells_and_a_sheet_cannot_pass_excels_own_size() -> None:
    wide = _with_sheet(lambda write: [write(b'<row><c r="Z%d"><v>1</v></c></row>' % n) for n in range(4, 2004)])
    error = _refusal(wide, "wide.xlsx", StreamLimits(size=SizeLimits(max_cells=10_000)))
    assert isinstance(error, InputTooLargeError) and error.limit == "max_cells"
    assert error.location.row is not None and error.location.row < 500
    far = _with_sheet(lambda write: write(b'<row r="1048577"><c r="A1048577"><v>1</v></c></row>'))
    error = _refusal(far, "far.xlsx")
    assert isinstance(error, InputTooLargeError) and error.limit == "max_sheet_rows"
    assert error.location.row == 1_048_577


def test_a_sheet_wider_than_the_column_limit_names_the_column() -> None:
    data = _with_sheet(lambda write: write(b'<row r="4"><c r="AAA4"><v>1</v></c></row>'))
    error = _refusal(data, "wide.xlsx", StreamLimits(size=SizeLimits(max_columns=100)))
    assert isinstance(error, InputTooLargeError)
    assert (error.location.row, error.location.field) == (4, "column 101")


def test_an_over_long_workbook_cell_names_its_header() -> None:
    data = _workbook([["编号", "回答"], ["1", "快递太慢了"], ["2", "差" * 5000]])
    error = _refusal(data, "long.xlsx", StreamLimits(size=SizeLimits(max_cell_chars=4000)))
    assert isinstance(error, InputTooLargeError)
    assert (error.location.row, error.location.field) == (3, "回答")
    assert "5,000 characters; at most 4,000" in error.message


# --- CSV -------------------------------------------------------------------------------------------


def test_a_cell_over_the_csv_modules_default_limit_is_read_and_reported_as_a_long_row() -> None:
    """The issue's reproduction: 131,073 characters in one cell. The row is a bad row, the others
    are analysed; the csv module's 131,072 no longer decides."""
    data = ("id,text\nh1," + "差" * 131_073 + "\nh2,很好\n").encode()
    outcome = read_bytes(data, "huge_cell.csv")
    assert [item.id for item in outcome.items] == ["h2"]
    (problem,) = outcome.problems
    assert (problem.location.file, problem.location.row, problem.location.field) == ("huge_cell.csv", 2, "text")
    assert "131073 characters; at most 20000 (item 'h1')" in problem.message
    assert outcome.report["items"] == 1 and outcome.report["problems"] == 1


def test_the_item_limit_covers_every_turn_of_a_call() -> None:
    call = '{"id": "c1", "turns": [{"speaker": "客服", "text": "%s"}, {"speaker": "客户", "text": "%s"}]}'
    data = "\n".join([call % ("您好", "快递太慢"), call.replace("c1", "c2") % ("您好" * 30, "太慢" * 30)]).encode()
    outcome = read_bytes(data, "calls.jsonl", limits=StreamLimits(size=SizeLimits(max_item_chars=100)))
    assert [item.id for item in outcome.items] == ["c1"]
    assert [(p.location.row, p.location.field) for p in outcome.problems] == [(2, "text")]
    assert "120 characters; at most 100 (item 'c2')" in outcome.problems[0].message


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        ("编号,回答,渠道\n1,快递太慢,APP\n2,很好,{long}\n", 3, "渠道"),
        ('编号,回答\n1,快递太慢\n2,"{long}"\n', 3, "回答"),  # quoted
        ('编号,回答\n1,快递太慢\n2,"很好\n{long}"\n', 3, "回答"),  # quoted across lines
    ],
)
def test_a_csv_cell_over_the_cell_limit_names_row_and_field(text: str, row: int, field: str) -> None:
    limits = StreamLimits(size=SizeLimits(max_cell_chars=3000))
    data = text.replace("{long}", "差" * 3500).encode()
    error = _refusal(data, "cells.csv", limits)
    assert isinstance(error, InputTooLargeError) and error.limit == "max_cell_chars"
    assert (error.location.file, error.location.row, error.location.field) == ("cells.csv", row, field)
    assert "3,000" in error.message


def test_the_csv_field_limit_is_only_ever_raised() -> None:
    before = csv.field_size_limit()
    read_bytes("编号,回答\n1,快递太慢\n".encode(), "a.csv", limits=StreamLimits(size=SizeLimits(max_cell_chars=10)))
    assert csv.field_size_limit() == max(before, SIZE_LIMITS.max_cell_chars, 10)


def test_cells_and_items_of_a_csv_are_counted_while_reading() -> None:
    lines = "".join(f"{i},第{i}单快递太慢\n" for i in range(5000))
    data = ("编号,回答\n" + lines).encode()
    with iter_bytes(data, "many.csv", limits=StreamLimits(size=SizeLimits(max_items=100))) as stream:
        read = 0
        with pytest.raises(InputTooLargeError) as caught:
            for _ in stream:
                read += 1
    assert read == 100 and caught.value.location.row == 102
    error = _refusal(data, "many.csv", StreamLimits(size=SizeLimits(max_cells=1000)))
    assert isinstance(error, InputTooLargeError) and error.limit == "max_cells"
    assert error.location.row == 501


def test_a_quote_never_closed_in_a_long_file_is_named_by_its_row_not_read_to_the_end() -> None:
    # Past the csv module's field limit (the largest any reader asked for), 5 characters a line.
    lines = max(csv.field_size_limit(), SIZE_LIMITS.max_cell_chars) // 5 + 1000
    data = ('编号,回答\n1,"快递太慢\n' + "2,很好\n" * lines).encode()
    error = _refusal(data, "unclosed.csv")
    assert isinstance(error, InputTooLargeError) and error.limit == "max_cell_chars"
    assert (error.location.row, error.location.field) == (2, "回答")
    assert "a quote never closed" in error.message
