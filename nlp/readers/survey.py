"""Survey exports (CSV/TSV/semicolon, XLSX, JSON Lines): one answer per row.

The first rows of each format (nlp.readers.tables) make a sample Table: header row found, headers
named; on the sample the columns are mapped to canonical fields — as given, by header synonym, by
a question keyword confirmed by the values, or, for the text only, by the values alone — and then
every row, sample and rest alike, becomes an Item or a RowProblem, one row at a time.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from nlp.readers.tables import Row, flat_record
from nlp.readers.transcript_jsonl import Event
from nlp.schema import Item


@dataclass(frozen=True)
class InferenceLimits:
    """How sure the value checks must be before a column is taken for a field."""

    score_share: float = 0.8  # of non-blank values that parse as an in-range nps/csat score
    text_share: float = 0.5  # of non-blank values that contain Chinese (text column)
    min_mean_chinese: float = 4.0  # mean Chinese characters per value for a guessed text column
    max_title_rows: int = 3  # one-cell title rows ("2026年11月回访问卷") skipped above the header
    sniff_lines: int = 20  # lines looked at to choose the CSV delimiter
    # Rows under the header whose values decide the columns (and, for JSON, whether it holds calls):
    # inference never looks further, so reading stays one row at a time after them.
    sample_rows: int = 10_000


LIMITS = InferenceLimits()
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
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
    """A survey's sample: headers, and (row number in the file, cells aligned to the headers)."""

    headers: list[str]
    rows: list[Row]
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


def _aligned(number: int, cells: list[object], width: int, file: str, ragged_ok: bool) -> Row:
    if len(cells) > width and _filled(cells[width:]):
        if ragged_ok:
            return number, cells  # a sheet row wider than the sample's: SurveyRows adds the columns
        raise InputError(
            Location(file, number, f"column {width + 1}"),
            f"row has {len(cells)} fields but the header has {width}; quote fields that contain the delimiter",
        )
    return number, [*cells[:width], *[None] * (width - len(cells))]


def table_sample(
    raw: Iterable[Row], file: str, ragged_ok: bool, extra: dict[str, Any], limits: InferenceLimits = LIMITS
) -> tuple[Table, Iterator[Row]]:
    """Find the header row (skipping one-cell title rows) and name blank headers, from the first
    rows; return the sample (the first `limits.sample_rows` rows under the header, aligned) and the
    rows after it, aligned as they are read. Blank rows are dropped. A sheet (`ragged_ok`) is as
    wide as its widest row in the sample; a CSV row wider than its header raises."""
    filled = ((number, cells) for number, cells in raw if any(not is_blank(cell) for cell in cells))
    head = list(itertools.islice(filled, limits.max_title_rows + 1))
    if not head:
        raise InputError(Location(file), "no rows: the file has no header and no answers")
    skip = 0
    while skip < min(limits.max_title_rows, len(head) - 1) and _is_title(head[skip][1], head[skip + 1][1]):
        skip += 1
    header_row, header_cells = head[skip]
    body = itertools.chain(head[skip + 1 :], filled)
    sample = list(itertools.islice(body, limits.sample_rows))
    width = len(header_cells)
    if ragged_ok:
        width = max(len(cells) for _, cells in [*head[: skip + 1], *sample])
    headers = [
        (cell.strip() if isinstance(cell, str) else str(clean_value(cell)))
        if not is_blank(cell)
        else f"column_{index + 1}"
        for index, cell in enumerate([*header_cells, *[None] * (width - len(header_cells))])
    ]
    rows = [_aligned(number, cells, width, file, ragged_ok) for number, cells in sample]
    rest = (_aligned(number, cells, width, file, ragged_ok) for number, cells in body)
    return Table(headers, rows, header_row, extra), rest


def json_table(records: Sequence[tuple[int, dict[str, Any]]], file: str) -> Table:
    """The sample table of JSON survey records: keys (nested "meta" flattened) are the headers."""
    flat = [(number, flat_record(record)) for number, record in records]
    names = list(dict.fromkeys(key for _, row in flat for key in row))
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


class SurveyRows:
    """Rows → Items under the column plan made on the sample: text kept as written, id (or
    f"{stem}-{row}"), typed metadata. A column first met after the sample (a later JSON key, a
    wider sheet row) is mapped by its header's synonym, or kept as metadata under its own name.

    Problems name a mapped field by its canonical name ("text", "nps", "date"; the report's
    "columns" gives the header) and say the column as written in the message.
    """

    def __init__(
        self, sample: Table, file: str, stem: str, given: Mapping[str, str] | None, limits: InferenceLimits = LIMITS
    ) -> None:
        self.file, self.stem, self.sample = file, stem, sample
        self.plan = plan_columns(sample, file, given, limits)
        self.headers = list(sample.headers)
        self.rows = 0
        self._text = self.plan.fields["text"]
        self._id = self.plan.fields.get("id")
        self._typed = [(name, index) for name, index in self.plan.fields.items() if name not in ("text", "id")]
        self._meta = [(key, index) for index, key in self.plan.meta_keys.items()]
        self._taken = {*self.plan.fields, *self.plan.meta_keys.values()}

    def add_column(self, header: str) -> None:
        """A column not in the sample: mapped when its header names a field still unmapped (as
        the sample's headers are), else metadata under its (de-duplicated) key."""
        index = len(self.headers)
        self.headers.append(header)
        named = canonical_header(header)
        if named is not None and named != "text" and named not in self.plan.fields and named not in self._taken:
            # Where the header pass would have put it: after the given and header-named fields.
            fields = list(self.plan.fields.items())
            at = sum(1 for name, _ in fields if self.plan.how[name] in ("given", "header"))
            self.plan.fields.clear()
            self.plan.fields.update([*fields[:at], (named, index), *fields[at:]])
            self.plan.how[named] = "header"
            self._taken.add(named)
            self._id = self.plan.fields.get("id")
            self._typed = [(name, i) for name, i in self.plan.fields.items() if name not in ("text", "id")]
            return
        key, suffix = meta_key(header), 2
        while key in self._taken:
            key, suffix = f"{meta_key(header)}#{suffix}", suffix + 1
        self._taken.add(key)
        self._meta.append((key, index))
        self.plan.meta_keys[index] = key

    def read(self, row: int, cells: Sequence[object]) -> list[Event]:
        """The row's problems, then its Item (or, for a skipped row, a None mark)."""
        self.rows += 1
        while len(cells) > len(self.headers):
            self.add_column(f"column_{len(self.headers) + 1}")
        text = _cell_text(cells[self._text])
        if says_nothing(text):
            shown = f" ({text!r})" if text else ""
            message = f"empty text{shown} in column {self.headers[self._text]!r}; row skipped"
            return [(row, RowProblem(Location(self.file, row, "text"), message)), (row, None)]
        item_id = _cell_text(cells[self._id]) if self._id is not None else ""
        entries: list[tuple[str, str, object]] = [(name, name, cells[index]) for name, index in self._typed]
        entries += [
            (key, self.headers[index], cells[index] if index < len(cells) else None) for key, index in self._meta
        ]
        meta, meta_problems = build_meta(entries)
        events: list[Event] = []
        for name, message in meta_problems:
            header = self.headers[self.plan.fields[name]] if name in self.plan.fields else name
            events.append((row, RowProblem(Location(self.file, row, name), f"{message} (column {header!r})")))
        source = f"{self.file}:{row}"
        events.append(
            (row, Item(id=item_id or f"{self.stem}-{row}", kind="survey", text=text, meta=meta, source=source))
        )
        return events

    def details(self) -> dict[str, Any]:
        """The report's survey part; complete once every row has been read."""
        how = self.plan.how
        return {
            "rows": self.rows,
            "columns": {canonical: self.headers[index] for canonical, index in self.plan.fields.items()},
            "inference": how,
            "guessed": sorted(canonical for canonical, way in how.items() if way in ("keyword", "values")),
            "header_row": self.sample.header_row,
            **self.sample.extra,
        }
