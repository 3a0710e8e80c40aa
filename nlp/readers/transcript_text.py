"""Plain-text transcripts: one turn per line, calls separated by blank lines or `---`.

    # id=c7 tier=gold channel=phone date=2026-11-02
    [00:00:03] 客服：您好，这里是售后回访
    [00:00:09] 客户：快递三天还没到
    你们到底管不管？                      ← no marker: continues the previous turn
    ---
    【客服】您好…

Markers: any speaker synonym (客服, 坐席, 顾客, 客户, 用户, Agent, Customer …) before a full- or
half-width colon, or in brackets (【客服】, [客户]) with the colon optional; a staff name or number
may follow the marker (客服小王：, 坐席1001：, 客户(张先生)：). A leading timestamp gives the start.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nlp.errors import InputError, Location, RowProblem
from nlp.normalize import fold_whitespace, to_halfwidth, to_simplified
from nlp.readers.columns import (
    SPEAKER_SYNONYMS,
    build_meta,
    meta_renames,
    parse_seconds,
    speaker_key,
    speaker_of,
    transcript_meta_key,
)
from nlp.readers.encoding import split_lines
from nlp.readers.transcript_jsonl import Event, ReaderOutput, transcript_item
from nlp.schema import Item, Speaker, Turn

_CLOCK = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TIMESTAMP = re.compile(
    rf"^[\[【(（]?\s*(?P<start>{_CLOCK})(?:\s*(?:-->|-|–|~|～|至)\s*(?P<end>{_CLOCK}))?\s*[\]】)）]?\s*"
)
_BRACKETED = re.compile(r"^[\[【]\s*(?P<label>[^\]】]{1,16}?)\s*[\]】]\s*[:：]?\s*(?P<text>.*)$")
_COLON = re.compile(r"^(?P<label>[^:：]{1,16}?)\s*[:：]\s*(?P<text>.*)$")
_SEPARATOR = re.compile(r"^(?:-{3,}|—{2,}|={3,})$")
_HEADER = re.compile(r"^[#＃]\s*(?P<body>.*)$")
_PAIR = re.compile(r"(?P<key>[^\s=＝,，;；]+)\s*[=＝]\s*(?P<value>\"[^\"]*\"|“[^”]*”|[^\s,，;；]+)")
_COMMENT = re.compile(r"^[#＃](?:\s.*)?$")

# A staff name or number after a marker: "(小王)", "-小王", " 01", "1001", or a familiar name attached
# (客服小美, 坐席老王). Other attached words make a different label (用户名：, 客服电话：), and words that
# begin a sentence (客户 说：…, 客户 反映：…) are not names.
_NAME = re.compile(r"^(?:\([^)]{1,10}\)|[\s\-_·]\S{1,10}|\d{1,6}|[小老阿][^\W\d_]{1,2})$")
_NOT_NAME = re.compile(r"^[\s\-_·]*(?:说|问|讲|称|表示|反映|反馈|觉得|认为|回答|回复)")
_MARKERS: tuple[tuple[str, Speaker], ...] = tuple(
    sorted(
        ((speaker_key(word), speaker) for speaker, words in SPEAKER_SYNONYMS.items() for word in words),
        key=lambda pair: -len(pair[0]),
    )
)
MAX_SNIPPET = 30


def speaker_of_label(label: str) -> Speaker | None:
    """The speaker a line label names, allowing a staff name or number after the marker."""
    direct = speaker_of(label)
    if direct is not None:
        return direct
    # Not speaker_key: it strips the brackets a name may be written in ("客户(张先生)").
    key = to_simplified(fold_whitespace(to_halfwidth(label))).lower()
    for marker, speaker in _MARKERS:
        if key.startswith(marker):
            rest = key[len(marker) :]
            # English markers need a separator before a name ("agent_li"), so "users" is not "user".
            if marker.isascii() and rest[:1].isalpha():
                return None
            if _NAME.match(rest) and not _NOT_NAME.match(rest):
                return speaker
            return None
    return None


def _parse_turn_line(line: str) -> tuple[Speaker | None, str, float | None, float | None]:
    """(speaker or None, text, start, end) of one non-blank line."""
    start = end = None
    rest = line
    stamp = _TIMESTAMP.match(line)
    if stamp and stamp.end() < len(line):
        start = parse_seconds(stamp["start"])
        end = parse_seconds(stamp["end"]) if stamp["end"] else None
        rest = line[stamp.end() :]
    for pattern in (_BRACKETED, _COLON):
        match = pattern.match(rest)
        if match:
            speaker = speaker_of_label(match["label"])
            if speaker is not None:
                return speaker, match["text"].strip(), start, end
    # An unlabelled line keeps a bare leading time ("12:30到的") as words; a bracketed one is a stamp.
    bracketed = stamp is not None and line[0] in "[【(（"
    return None, rest if bracketed else line, None, None


@dataclass
class _OpenTurn:
    speaker: Speaker
    parts: list[str]
    start: float | None
    end: float | None
    line: int


@dataclass
class _Call:
    """The call being read: header metadata (possibly before its first turn) and its turns."""

    line: int | None = None
    header: list[tuple[str, str, object]] = field(default_factory=list)
    turns: list[_OpenTurn] = field(default_factory=list)


class _TextTranscriptReader:
    def __init__(self, file: str, stem: str, columns: Mapping[str, str] | None) -> None:
        self.file, self.stem = file, stem
        self.renames = meta_renames(columns)
        self.items: list[tuple[int, Item]] = []
        self.problems: list[RowProblem] = []
        self.calls = 0
        self.labelled = 0
        self.call = _Call()

    def problem(self, row: int, field: str | None, message: str) -> None:
        self.problems.append(RowProblem(Location(self.file, row, field), message))

    def feed(self, number: int, raw: str) -> None:
        line = raw.strip().strip("\ufeff\u200b").strip()
        if not line or _SEPARATOR.match(line):
            self.close()
            return
        header = _HEADER.match(line)
        pairs = list(_PAIR.finditer(header["body"])) if header else []
        if pairs:
            if self.call.turns:
                self.close()
            if self.call.line is None:
                self.call.line = number
            for pair in pairs:
                value = pair["value"].strip('"“”')
                self.call.header.append((transcript_meta_key(pair["key"], self.renames), pair["key"], value))
            return
        if _COMMENT.match(line):
            return
        speaker, text, start, end = _parse_turn_line(line)
        if speaker is not None:
            self.labelled += 1
            if self.call.line is None:
                self.call.line = number
            self.call.turns.append(_OpenTurn(speaker, [text] if text else [], start, end, number))
        elif self.call.turns:
            self.call.turns[-1].parts.append(text)
        else:
            snippet = text[:MAX_SNIPPET]
            self.problem(number, "speaker", f"no speaker marker and no turn to continue: {snippet!r}; line skipped")

    def close(self) -> None:
        call = self.call
        if not call.turns:
            return  # header metadata, if any, waits for the call it announces
        self.call = _Call()
        self.calls += 1
        row = call.line if call.line is not None else call.turns[0].line
        entries = [entry for entry in call.header if entry[0] != "id"]
        ids = [str(value) for key, _, value in call.header if key == "id"]
        meta, meta_problems = build_meta(entries)
        for field_name, message in meta_problems:
            self.problem(row, field_name, message)
        turns: list[Turn] = []
        for open_turn in call.turns:
            text = "\n".join(open_turn.parts).strip()
            if not text:
                self.problem(open_turn.line, "text", "empty turn; skipped")
                continue
            turns.append(Turn(open_turn.speaker, text, open_turn.start, open_turn.end))
        made = transcript_item(ids[0] if ids else f"{self.stem}-{row}", self.file, row, turns, meta)
        if isinstance(made, RowProblem):
            self.problems.append(made)
        else:
            self.items.append((row, made))

    def finish(self, last_line: int) -> None:
        self.close()
        if self.call.header and self.call.line is not None:
            self.problem(self.call.line, None, "metadata header with no call after it; ignored")
        if not self.labelled:
            raise InputError(
                Location(self.file, 1, "speaker"),
                f"no line of the {last_line} starts with a speaker marker (客服：… / 客户：… / Agent: …); "
                "is this a transcript?",
            )


def transcript_text_events(
    lines: Iterable[tuple[int, str]], file: str, stem: str, columns: Mapping[str, str] | None
) -> Generator[Event, None, dict[str, Any]]:
    """Calls from numbered lines of a plain-text transcript, each as soon as it ends (see Event).
    `columns` renames `# key=value` header keys to canonical names. Raises InputError at the end
    when no line carries a speaker marker. Returns the report's part: {"rows", "columns"}."""
    reader = _TextTranscriptReader(file, stem, columns)
    last = 0
    for number, raw in lines:
        reader.feed(number, raw)
        last = number
        if reader.items or reader.problems:
            # Every later problem is on this call's first line or after it, or after this line.
            floor = reader.call.line - 1 if reader.call.line is not None else number
            yield from _drain(reader, floor)
    reader.finish(last)
    yield from _drain(reader, last)
    return {"rows": reader.calls, "columns": dict(columns or {})}


def _drain(reader: _TextTranscriptReader, floor: int) -> Iterator[Event]:
    for problem in reader.problems:
        yield problem.location.row or 0, problem
    yield from reader.items
    yield floor, None
    reader.problems.clear()
    reader.items.clear()


def read_transcript_text(text: str, file: str, stem: str, columns: Mapping[str, str] | None) -> ReaderOutput:
    """Calls from a whole plain-text transcript: (row, item) pairs, problems, the report's part."""
    items: list[tuple[int, Item]] = []
    problems: list[RowProblem] = []
    events = transcript_text_events(enumerate(split_lines(text), start=1), file, stem, columns)
    while True:
        try:
            row, event = next(events)
        except StopIteration as stop:
            report: dict[str, Any] = stop.value
            return items, problems, report
        if isinstance(event, Item):
            items.append((row, event))
        elif event is not None:
            problems.append(event)
