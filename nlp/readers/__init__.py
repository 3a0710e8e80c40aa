"""Input readers: transcript JSONL/text and survey CSV/XLSX/JSONL files → Items.

A whole input is either read or rejected with an InputError naming file, line/row and field;
individually bad rows come back as RowProblems beside the items, never silently dropped.

`iter_path`/`iter_bytes` stream an input's Items one at a time in bounded memory (ItemStream);
`read_path`/`read_bytes` read it all into a ReadOutcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.errors import RowProblem
from nlp.readers.limits import SIZE_LIMITS, InputTooLargeError, SizeLimits
from nlp.readers.stream import (
    EXTENSIONS,
    STREAM_LIMITS,
    ItemStream,
    ReadKind,
    StreamLimits,
    iter_bytes,
    iter_path,
)
from nlp.schema import Item


@dataclass(frozen=True)
class ReadOutcome:
    """What one input gave: its items, its individually bad rows, and how it was read.

    `report`: {"file", "format", "encoding", "columns": {canonical: header as written}, "rows",
    "items", "problems"}, plus for surveys "inference" ({field: "given"|"header"|"keyword"|"values"}),
    "guessed" (fields inferred from values, to be checked), "header_row", and "delimiter" (CSV) or
    "sheet" (XLSX).
    """

    items: list[Item]
    problems: list[RowProblem]
    report: dict[str, Any]


def _outcome(stream: ItemStream) -> ReadOutcome:
    with stream:
        items = list(stream)
    return ReadOutcome(items=items, problems=stream.take_problems(), report=stream.report)


def read_bytes(
    data: bytes,
    name: str,
    *,
    kind: ReadKind | None = None,
    columns: Mapping[str, str] | None = None,
    limits: StreamLimits = STREAM_LIMITS,
) -> ReadOutcome:
    """Read one input given as bytes and its file name (the extension picks the format).

    .jsonl/.json: transcripts when objects carry "turns", else survey answers; .txt: plain-text
    transcript; .csv/.tsv: survey (delimiter sniffed); .xlsx: survey (first sheet). `kind` forces
    transcript or survey; `columns` maps canonical fields ("text", "id", "nps", "csat", "date",
    "tier", "channel", "region", "product") to the file's headers, overriding inference (for
    transcripts it renames metadata keys). Raises InputError when the input cannot be read as a whole,
    InputTooLargeError (an InputError) as soon as it passes one of `limits.size`.
    """
    return _outcome(iter_bytes(data, name, kind=kind, columns=columns, limits=limits))


def read_path(
    path: str | Path, *, kind: ReadKind | None = None, columns: Mapping[str, str] | None = None
) -> ReadOutcome:
    """Read one input file; see read_bytes. The path as given names the file in errors and sources."""
    return _outcome(iter_path(path, kind=kind, columns=columns))


__all__ = [
    "EXTENSIONS",
    "SIZE_LIMITS",
    "STREAM_LIMITS",
    "InputTooLargeError",
    "ItemStream",
    "ReadKind",
    "ReadOutcome",
    "SizeLimits",
    "StreamLimits",
    "iter_bytes",
    "iter_path",
    "read_bytes",
    "read_path",
]
