"""Input readers: transcript JSONL/text and survey CSV/XLSX/JSONL files → Items.

A whole input is either read or rejected with an InputError naming file, line/row and field;
individually bad rows come back as RowProblems beside the items, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from nlp.errors import InputError, Location, RowProblem
from nlp.readers.encoding import decode_bytes, parse_json_lines
from nlp.readers.survey import csv_table, jsonl_table, read_survey, xlsx_table
from nlp.readers.transcript_jsonl import ReaderOutput, read_transcript_jsonl
from nlp.readers.transcript_text import read_transcript_text
from nlp.schema import Item

ReadKind = Literal["transcript", "survey"]
EXTENSIONS = (".jsonl", ".json", ".txt", ".csv", ".tsv", ".xlsx")


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


def _dedupe_ids(items: list[tuple[int, Item]], file: str) -> tuple[list[Item], list[RowProblem]]:
    """Keep every item: a repeated id gets a suffix ("c1#2") and the repeat is reported."""
    seen = {item.id for _, item in items}
    used: set[str] = set()
    out: list[Item] = []
    problems: list[RowProblem] = []
    for row, item in items:
        if item.id in used:
            suffix = 2
            while f"{item.id}#{suffix}" in seen:
                suffix += 1
            new_id = f"{item.id}#{suffix}"
            seen.add(new_id)
            problems.append(
                RowProblem(Location(file, row, "id"), f"duplicate id {item.id!r} in this file; kept as {new_id!r}")
            )
            item = replace(item, id=new_id)
        used.add(item.id)
        out.append(item)
    return out, problems


def _stem(name: str) -> str:
    # Uploads may carry a Windows path; the stem names default ids, so take the last part only.
    return PurePosixPath(name.replace("\\", "/")).stem or "input"


def read_bytes(
    data: bytes,
    name: str,
    *,
    kind: ReadKind | None = None,
    columns: Mapping[str, str] | None = None,
) -> ReadOutcome:
    """Read one input given as bytes and its file name (the extension picks the format).

    .jsonl/.json: transcripts when objects carry "turns", else survey answers; .txt: plain-text
    transcript; .csv/.tsv: survey (delimiter sniffed); .xlsx: survey (first sheet). `kind` forces
    transcript or survey; `columns` maps canonical fields ("text", "id", "nps", "csat", "date",
    "tier", "channel", "region", "product") to the file's headers, overriding inference (for
    transcripts it renames metadata keys). Raises InputError when the input cannot be read as a whole.
    """
    extension = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if extension not in EXTENSIONS:
        raise InputError(Location(name), f"unsupported file type {extension or '(none)'!r}; expected {EXTENSIONS}")
    stem = _stem(name)
    output: ReaderOutput
    if extension == ".xlsx":
        _refuse(kind, "survey", name)
        fmt, encoding = "survey-xlsx", "utf-8"  # OOXML parts are UTF-8 XML; no detection needed
        output = read_survey(xlsx_table(data, name), name, stem, columns)
    else:
        text, encoding = decode_bytes(data, name)
        if extension == ".txt":
            _refuse(kind, "transcript", name)
            fmt, output = "transcript-text", read_transcript_text(text, name, stem, columns)
        elif extension in (".csv", ".tsv"):
            _refuse(kind, "survey", name)
            table = csv_table(text, name, tab_first=extension == ".tsv")
            fmt, output = "survey-csv", read_survey(table, name, stem, columns)
        else:
            records = parse_json_lines(text, name)
            if not records:
                raise InputError(Location(name), "no JSON objects in the file")
            if kind is None:
                kind = "transcript" if any("turns" in record for _, record in records) else "survey"
            if kind == "transcript":
                fmt, output = "transcript-jsonl", read_transcript_jsonl(records, name, stem, columns)
            else:
                fmt, output = "survey-jsonl", read_survey(jsonl_table(records, name), name, stem, columns)
    numbered, problems, details = output
    items, duplicate_problems = _dedupe_ids(numbered, name)
    problems = sorted([*problems, *duplicate_problems], key=lambda problem: problem.location.row or 0)
    report: dict[str, Any] = {"file": name, "format": fmt, "encoding": encoding, **details}
    report.update(items=len(items), problems=len(problems))
    return ReadOutcome(items=items, problems=problems, report=report)


def _refuse(kind: ReadKind | None, supported: ReadKind, name: str) -> None:
    if kind is not None and kind != supported:
        raise InputError(Location(name), f"a {Path(name).suffix} file can only hold {supported} data, not {kind}")


def read_path(
    path: str | Path, *, kind: ReadKind | None = None, columns: Mapping[str, str] | None = None
) -> ReadOutcome:
    """Read one input file; see read_bytes. The path as given names the file in errors and sources."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(Location(str(path)), f"cannot read the file: {error.strerror or error}") from None
    return read_bytes(data, str(path), kind=kind, columns=columns)


__all__ = ["ReadOutcome", "read_bytes", "read_path"]
