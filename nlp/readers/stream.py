"""One input read as a stream of Items, in file order, never held whole.

The bytes are read a chunk at a time (nlp.readers.textstream), the encoding and the column mapping
are decided on a bounded sample of the start of the file, and each row or call becomes an Item as
it is read. Only the ids seen so far are kept (to de-duplicate them), and problems until their
rows are passed.
"""

from __future__ import annotations

import heapq
import io
import itertools
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Literal

from nlp.errors import InputError, Location, RowProblem
from nlp.readers.json_records import iter_json_records
from nlp.readers.limits import SIZE_LIMITS, InputTooLargeError, SizeLimits
from nlp.readers.survey import LIMITS, InferenceLimits, SurveyRows, Table, json_table, table_sample
from nlp.readers.tables import csv_rows, flat_record, xlsx_rows
from nlp.readers.textstream import TextSource, numbered_lines, raw_lines
from nlp.readers.transcript_jsonl import Event, transcript_jsonl_events
from nlp.readers.transcript_text import transcript_text_events
from nlp.schema import Item

ReadKind = Literal["transcript", "survey"]
EXTENSIONS = (".jsonl", ".json", ".txt", ".csv", ".tsv", ".xlsx")
_ONLY: Mapping[str, ReadKind] = {".txt": "transcript", ".csv": "survey", ".tsv": "survey", ".xlsx": "survey"}
Details = Generator[Event, None, dict[str, Any]]


@dataclass(frozen=True)
class StreamLimits:
    """How much of an input is looked at before reading it one row at a time, and (`size`) how much
    it may hold."""

    sample_bytes: int = 1 << 20  # bytes that choose the encoding (from the first non-ASCII byte)
    chunk_bytes: int = 1 << 16  # bytes decoded at a time
    max_json_value_chars: int = 1 << 24  # one record of a JSON array, or the first JSON object
    inference: InferenceLimits = LIMITS  # sample rows for the columns, title rows, sniffed lines
    size: SizeLimits = SIZE_LIMITS  # items, cells, a cell's length, what a workbook inflates to


STREAM_LIMITS = StreamLimits()


class _ProblemQueue:
    """Problems handed on in row order: one waits while a row before it may still get one."""

    def __init__(self) -> None:
        self._waiting: list[tuple[int, int, RowProblem]] = []
        self._count = itertools.count()
        self.ready: list[RowProblem] = []
        self.total = 0

    def add(self, problem: RowProblem) -> None:
        # Rows of None sort first, as read_path always sorted them.
        heapq.heappush(self._waiting, (problem.location.row or 0, next(self._count), problem))

    def release(self, upto: int | None) -> None:
        """Hand on every problem of a row up to `upto` (None: all)."""
        while self._waiting and (upto is None or self._waiting[0][0] <= upto):
            self.ready.append(heapq.heappop(self._waiting)[2])
            self.total += 1


class ItemStream(AbstractContextManager["ItemStream"]):
    """The Items of one input, read as they are iterated: once, in file order.

    Iterating reads the file a chunk at a time; an input that cannot be read as a whole raises
    InputError (naming file, line/row and field) at the point where that is found — an
    undecodable byte on line 80 000, a quoting error, a malformed JSON line — so read a stream to
    the end before trusting any of it (a validation pass), then read a new one to use the items.
    After an InputError the stream gives nothing more (and is not `exhausted`). The encoding is
    chosen on the first `limits.sample_bytes` (from the first non-ASCII byte) and the columns on
    the first `limits.inference.sample_rows` rows; a file within both is read exactly as a whole.

    Problems of individually bad rows collect as they are found, in row order (a problem may wait
    a little, until no earlier row can get one). `take_problems()` hands over those found so far
    and forgets them, so a long stream need not keep them: call it between items, and once at the
    end. `problems` shows those not taken yet. `report` holds "file", "format" and "encoding" as
    soon as they are known (None before) and is complete once `exhausted`: {"file",
    "format", "encoding", "columns", "rows", "items", "problems"} plus, for surveys, "inference",
    "guessed", "header_row" and "delimiter" (CSV) or "sheet" (XLSX); "problems" counts all, taken
    or not.

    A repeated id is kept with a suffix ("c1#2") and reported on its row; only the ids seen so far
    are consulted, so a suffix is the first free one at that point of the file.
    """

    def __init__(
        self,
        name: str,
        opener: Callable[[], BinaryIO],
        kind: ReadKind | None,
        columns: Mapping[str, str] | None,
        limits: StreamLimits,
    ) -> None:
        self.name = name
        self.exhausted = False
        # Filled in as the input is read: format and encoding first, the rest at the end.
        self.report: dict[str, Any] = {"file": name, "format": None, "encoding": None}
        self._extension = PurePosixPath(name.replace("\\", "/")).suffix.lower()
        if self._extension not in EXTENSIONS:
            raise InputError(
                Location(name), f"unsupported file type {self._extension or '(none)'!r}; expected {EXTENSIONS}"
            )
        only = _ONLY.get(self._extension)
        if kind is not None and only is not None and kind != only:
            raise InputError(Location(name), f"a {Path(name).suffix} file can only hold {only} data, not {kind}")
        self._opener, self._kind, self._columns, self._limits = opener, kind, columns, limits
        # Uploads may carry a Windows path; the stem names default ids, so take the last part only.
        self._stem = PurePosixPath(name.replace("\\", "/")).stem or "input"
        self._problems = _ProblemQueue()
        self._ids: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        self._items = 0
        self._generator = self._generate()

    def __iter__(self) -> ItemStream:
        return self

    def __next__(self) -> Item:
        return next(self._generator)

    def close(self) -> None:
        """Stop reading and close the file (also done when the stream is exhausted or collected)."""
        self._generator.close()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @property
    def problems(self) -> list[RowProblem]:
        """Problems found so far and not yet taken, in row order."""
        return list(self._problems.ready)

    def take_problems(self) -> list[RowProblem]:
        """Problems found so far, in row order; they are not handed over again."""
        taken, self._problems.ready = self._problems.ready, []
        return taken

    def _generate(self) -> Generator[Item, None, None]:
        with self._opener() as binary:
            events = self._events(binary)
            try:
                while True:
                    try:
                        row, event = next(events)
                    except StopIteration as stop:
                        details: dict[str, Any] = stop.value
                        break
                    if isinstance(event, Item) and self._too_long(row, event):
                        self._problems.release(row)
                    elif isinstance(event, Item):
                        item = self._dedupe(row, event)
                        self._problems.release(row)
                        self._items += 1
                        self._check_items(row)
                        yield item
                    elif event is None:
                        self._problems.release(row)
                    else:
                        self._problems.add(event)
            finally:
                events.close()  # a workbook is closed before its file
        self._problems.release(None)
        self.report.update(details)
        self.report.update(items=self._items, problems=self._problems.total)
        self.exhausted = True

    def _too_long(self, row: int, item: Item) -> bool:
        """Whether the item is over max_item_chars: then a problem of its row, and skipped."""
        most = self._limits.size.max_item_chars
        chars = sum(len(turn.text) for turn in item.turns) if item.turns else len(item.text)
        if most is None or chars <= most:
            return False
        message = f"{chars} characters; at most {most} (item {item.id!r}); row skipped"
        self._problems.add(RowProblem(Location(self.name, row, "text"), message))
        return True

    def _check_items(self, row: int) -> None:
        most = self._limits.size.max_items
        if most is not None and self._items > most:
            raise InputTooLargeError(
                Location(self.name, row),
                f"reading stopped at row {row}: {self._items} items; at most {most} per input",
                "max_items",
            )

    def _dedupe(self, row: int, item: Item) -> Item:
        if item.id in self._ids:
            suffix = self._next_suffix.get(item.id, 2)
            while f"{item.id}#{suffix}" in self._ids:
                suffix += 1
            self._next_suffix[item.id] = suffix + 1
            new_id = f"{item.id}#{suffix}"
            message = f"duplicate id {item.id!r} in this file; kept as {new_id!r}"
            self._problems.add(RowProblem(Location(self.name, row, "id"), message))
            item = replace(item, id=new_id)
        self._ids.add(item.id)
        return item

    def _events(self, binary: BinaryIO) -> Details:
        limits, inference = self._limits, self._limits.inference
        if self._extension == ".xlsx":
            self.report.update(format="survey-xlsx", encoding="utf-8")  # OOXML parts are UTF-8 XML
            extra: dict[str, Any] = {}
            return (
                yield from self._survey(
                    *table_sample(xlsx_rows(binary, self.name, extra, limits.size), self.name, True, extra, inference)
                )
            )
        text = TextSource(binary, self.name, limits.sample_bytes, limits.chunk_bytes)
        self.report.update(encoding=text.encoding)
        if self._extension == ".txt":
            self.report["format"] = "transcript-text"
            return (
                yield from transcript_text_events(numbered_lines(text.chunks()), self.name, self._stem, self._columns)
            )
        if self._extension in (".csv", ".tsv"):
            self.report["format"] = "survey-csv"
            extra = {}
            lines = raw_lines(text.chunks())
            rows = csv_rows(lines, self.name, self._extension == ".tsv", extra, inference.sniff_lines, limits.size)
            return (yield from self._survey(*table_sample(rows, self.name, False, extra, inference)))
        records = iter_json_records(text.chunks(), self.name, limits.max_json_value_chars)
        sample = list(itertools.islice(records, inference.sample_rows))
        if not sample:
            raise InputError(Location(self.name), "no JSON objects in the file")
        kind = self._kind or ("transcript" if any("turns" in record for _, record in sample) else "survey")
        if kind == "transcript":
            self.report["format"] = "transcript-jsonl"
            everything = itertools.chain(sample, records)
            return (yield from transcript_jsonl_events(everything, self.name, self._stem, self._columns))
        self.report["format"] = "survey-jsonl"
        survey = SurveyRows(json_table(sample, self.name), self.name, self._stem, self._columns, inference)
        for row, cells in survey.sample.rows:
            yield from survey.read(row, cells)
        known = set(survey.headers)
        for row, record in records:
            flat = flat_record(record)
            for key in flat:
                if key not in known:
                    survey.add_column(key)
                    known.add(key)
            yield from survey.read(row, [flat.get(header) for header in survey.headers])
        return survey.details()

    def _survey(self, sample: Table, rest: Iterator[tuple[int, list[object]]]) -> Details:
        survey = SurveyRows(sample, self.name, self._stem, self._columns, self._limits.inference)
        for row, cells in itertools.chain(sample.rows, rest):
            yield from survey.read(row, cells)
        return survey.details()


def _open_path(path: str | Path) -> Callable[[], BinaryIO]:
    def opener() -> BinaryIO:
        try:
            return open(path, "rb")
        except OSError as error:
            raise InputError(Location(str(path)), f"cannot read the file: {error.strerror or error}") from None

    return opener


def iter_path(
    path: str | Path,
    *,
    kind: ReadKind | None = None,
    columns: Mapping[str, str] | None = None,
    limits: StreamLimits = STREAM_LIMITS,
) -> ItemStream:
    """Stream one input file's Items (see ItemStream); the path as given names the file in errors
    and sources. The extension picks the format, as for read_bytes; an unsupported one, or a
    `kind` the format cannot hold, raises InputError here, everything else while iterating (the
    file is opened on the first item asked for)."""
    return ItemStream(str(path), _open_path(path), kind, columns, limits)


def iter_bytes(
    data: bytes,
    name: str,
    *,
    kind: ReadKind | None = None,
    columns: Mapping[str, str] | None = None,
    limits: StreamLimits = STREAM_LIMITS,
) -> ItemStream:
    """Stream the Items of one input given as bytes and its file name (see iter_path)."""
    return ItemStream(name, lambda: io.BytesIO(data), kind, columns, limits)
