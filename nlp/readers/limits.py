"""How much of an input is accepted: items, cells, a cell's length, and what a workbook inflates to.

Each limit is checked while the input is read, so a hostile file (a workbook whose sheet inflates to
millions of rows or to gigabytes of whitespace, a CSV with a megabyte cell) is refused within
seconds and in flat memory, not after it has been read whole. The defaults suit the CLI, which
streams an input of any length; the service passes tighter ones (api.settings).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from nlp.errors import InputError, Location

# Excel's own maximum: a worksheet with more rows or columns was not written by a spreadsheet.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
MAX_ITEM_CHARS = 20_000


@dataclass(frozen=True)
class SizeLimits:
    """What an input may hold; None means no limit."""

    max_items: int | None = None  # answers or calls of one input
    # One answer or call (its turns together), in characters: a longer one is a bad row, skipped.
    # Segmenting a long run of unknown words costs jieba more than linear time (20,000 characters
    # of one repeated word take seconds), so a 100,000-character cell would hold up a whole run.
    max_item_chars: int | None = MAX_ITEM_CHARS
    max_cells: int | None = None  # cells of a CSV or sheet, blank ones included
    # One cell or CSV field, in characters: also the csv module's field limit (131,072 by default,
    # which would refuse a long but fair answer with an error the user cannot act on).
    max_cell_chars: int = 1 << 20
    max_columns: int = EXCEL_MAX_COLUMNS
    max_sheet_rows: int = EXCEL_MAX_ROWS  # rows of a worksheet, blank ones included
    # A workbook's parts together, inflated, and how many times a part may inflate its stored
    # bytes (Apache POI refuses more than 100-fold too; real sheets inflate 5-20-fold). Parts under
    # `ratio_grace_bytes` inflated are not held to the ratio: a tiny part may compress very well.
    max_unzipped_bytes: int = 1 << 30
    max_zip_ratio: float = 100.0
    ratio_grace_bytes: int = 1 << 20


SIZE_LIMITS = SizeLimits()


class InputTooLargeError(InputError):
    """An input over one of the SizeLimits; `limit` names the field (e.g. "max_items"), so that an
    edge can say which of its settings to raise."""

    code = "E101"

    def __init__(self, location: Location, message: str, limit: str) -> None:
        self.limit = limit
        super().__init__(location, message)


def check_workbook_zip(stream: BinaryIO, file: str, limits: SizeLimits = SIZE_LIMITS) -> None:
    """Refuse a workbook whose parts would inflate past `limits`, from its ZIP directory alone.

    The sizes checked are those the directory declares, and they bind while reading: Python's
    zipfile never inflates a part past its declared size, and a part whose data goes on past it
    fails its CRC check (an InputError when read). So nothing is inflated to find a bomb. Raises
    InputError for a file that is not a ZIP archive at all. The stream is left at its start.
    """
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise InputError(Location(file), f"not a readable XLSX workbook: {error or type(error).__name__}") from None
    finally:
        stream.seek(0)
    total = 0
    for part in parts:
        total += part.file_size
        stored = max(part.compress_size, 1)
        if part.file_size > limits.ratio_grace_bytes and part.file_size > limits.max_zip_ratio * stored:
            raise InputTooLargeError(
                Location(file, None, part.filename),
                f"the part {part.filename!r} inflates {part.file_size / stored:.0f}-fold ({stored:,} bytes to "
                f"{part.file_size:,}); a workbook part inflates at most {limits.max_zip_ratio:g}-fold: "
                "this is a compression bomb, not a spreadsheet",
                "max_zip_ratio",
            )
        if total > limits.max_unzipped_bytes:
            raise InputTooLargeError(
                Location(file, None, part.filename),
                f"the workbook inflates to more than {limits.max_unzipped_bytes:,} bytes (at the part "
                f"{part.filename!r}); split it or save it as CSV",
                "max_unzipped_bytes",
            )
