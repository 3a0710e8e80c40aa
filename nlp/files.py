"""Files written atomically, files hashed, and cells made safe for spreadsheets: the one home of
each for every layer.

An atomic file is written beside its target, flushed to disk and renamed over it, so a failed or
interrupted run never leaves a half-written output or state file. Every CSV/TSV/XLSX export writes
its rows through `spreadsheet_row`, so that an answer a customer typed as "=HYPERLINK(…)" is shown
by Excel as text, not run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def atomic_writer(
    path: Path, encoding: str = "utf-8", newline: str | None = None, *, mode: int | None = None
) -> Iterator[TextIO]:
    """A text handle whose content replaces `path` only when the block ends without an error.

    mkstemp makes the file private (0o600); `mode` (e.g. 0o644) sets the permissions the file gets
    instead, for a file another user reads (a service reading the CLI's model registry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline=newline) as out:
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_lines_atomic(path: Path, lines: Iterable[str], *, mode: int | None = None) -> Path:
    with atomic_writer(path, mode=mode) as out:
        out.writelines(lines)
    return path


def write_text_atomic(path: Path, text: str, *, mode: int | None = None) -> Path:
    return write_lines_atomic(path, [text], mode=mode)


def write_json_atomic(path: Path, value: Any, *, indent: int = 1, mode: int | None = None) -> Path:
    """`value` as UTF-8 JSON (Chinese kept readable) with a final newline, written atomically."""
    return write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=indent) + "\n", mode=mode)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes, read in chunks (model files are tens of megabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# What Excel and LibreOffice read as the start of a formula (=, +, -, @), and the tab and carriage
# return they drop before reading it (OWASP's "CSV injection"); a DDE payload needs only one of them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Text that is only a number ("-0.5000", "+3", "-1e-05"): a spreadsheet reads it as that number.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_cell(value: object) -> object:
    """`value` as an exported cell: text a spreadsheet would take for a formula gets a leading
    apostrophe ("'=HYPERLINK(…)", shown as typed, never run); numbers, and text that is only a
    number ("-0.5000"), are kept as they are, so a numeric column stays numeric."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_row(values: Iterable[object]) -> list[object]:
    """A row of an export with every cell made safe (`spreadsheet_cell`)."""
    return [spreadsheet_cell(value) for value in values]
