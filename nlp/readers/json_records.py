"""JSON records from text that comes a chunk at a time: JSON Lines, a JSON array of objects, or one
(possibly pretty-printed) object — one record in memory at a time.

The shapes are told apart as a whole-file parse would: text that is one JSON object is one record
(numbered by the line it starts on); text that starts with "[" is an array read element by element
(numbered 1, 2, ...); anything else is JSON Lines, blank lines skipped, numbered by line.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from nlp.errors import InputError, Location
from nlp.readers.textstream import numbered_lines

JsonRecord = tuple[int, dict[str, Any]]
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# A parse error this close to the end of the text read so far may only mean the value goes on in
# the next chunk (a cut literal or \\u escape); so may an unterminated string.
_CUT_MARGIN = 6


class _Text:
    """Text pulled from the chunks on demand; what has been read can be dropped (`compact`)."""

    def __init__(self, chunks: Iterator[str], max_value_chars: int) -> None:
        self.chunks = chunks
        self.text = ""
        self.pos = 0
        self.line = 1  # the line number at text[0]
        self.compacted = False
        self.max_value_chars = max_value_chars

    def more(self) -> bool:
        for chunk in self.chunks:
            if chunk:
                self.text += chunk
                return True
        return False

    def skip_space(self) -> bool:
        """Move past JSON whitespace; False when the text ends first."""
        while True:
            self.pos = _JSON_SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return True
            if not self.more():
                return False

    def compact(self) -> None:
        """Drop what has been read, once it is most of the text (so each character is copied O(1) times)."""
        if self.pos < len(self.text) // 2:
            return
        self.line += self.text.count("\n", 0, self.pos)
        self.text, self.pos, self.compacted = self.text[self.pos :], 0, True

    def line_at(self, index: int) -> int:
        return self.line + self.text.count("\n", 0, index)

    def value(self) -> Any:
        """The JSON value at `pos` (reading on while it may be incomplete); raises JSONDecodeError."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as error:
                cut = error.pos >= len(self.text) - _CUT_MARGIN or error.msg.startswith("Unterminated string")
                if cut and len(self.text) - self.pos <= self.max_value_chars and self.more():
                    continue
                raise
            self.pos = end
            return value

    def rest(self) -> Iterator[str]:
        """Everything from text[0] on: the text read so far, then the chunks not yet read."""
        return itertools.chain([self.text], self.chunks)


def _json_lines(lines: Iterable[tuple[int, str]], file: str) -> Iterator[JsonRecord]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                Location(file, number), f"malformed JSON line: {error.msg} at column {error.colno}"
            ) from None
        if not isinstance(value, dict):
            raise InputError(Location(file, number), f"expected a JSON object per line, got {type(value).__name__}")
        yield number, value


def iter_json_records(chunks: Iterable[str], file: str, max_value_chars: int = 1 << 24) -> Iterator[JsonRecord]:
    """(row, object) pairs from JSON text: line numbers for JSON Lines and a single object, element
    numbers (1, 2, ...) for an array. A malformed line, a value that is not an object, or a JSON
    value longer than `max_value_chars` raises InputError naming the line (element) when met."""
    text = _Text(iter(chunks), max_value_chars)
    if not text.skip_space():
        return
    opening = text.text[text.pos]
    if opening == "[":
        yield from _array(text, file)
    elif opening == "{":
        yield from _object_or_lines(text, file)
    else:
        yield from _json_lines(numbered_lines(text.rest()), file)


def _object_or_lines(text: _Text, file: str) -> Iterator[JsonRecord]:
    """One object alone in the file is one record; otherwise the text is JSON Lines, read from the
    start again (the first value has not been dropped) so that an error names its line."""
    start = text.pos
    try:
        value = text.value()
    except json.JSONDecodeError:
        value = None
    if value is not None and not text.skip_space():
        yield text.line_at(start), value
        return
    yield from _json_lines(numbered_lines(text.rest()), file)


def _array(text: _Text, file: str) -> Iterator[JsonRecord]:
    text.pos += 1
    number = 0
    try:
        while True:
            if not text.skip_space():
                raise json.JSONDecodeError("the array is never closed ('[' without ']')", text.text, text.pos)
            char = text.text[text.pos]
            if char == "]":
                text.pos += 1
                break
            if number:
                if char != ",":
                    raise json.JSONDecodeError("Expecting ',' delimiter", text.text, text.pos)
                text.pos += 1
                text.skip_space()
            element = text.value()
            number += 1
            if not isinstance(element, dict):
                raise InputError(Location(file, number), f"element {number} of the JSON array is not an object")
            yield number, element
            text.compact()
        if text.skip_space():
            raise json.JSONDecodeError("Extra data after the array", text.text, text.pos)
    except json.JSONDecodeError as error:
        if not number and not text.compacted:
            # Not one array after all: read as JSON Lines, whose error names the line as it always has.
            yield from _json_lines(numbered_lines(text.rest()), file)
        raise InputError(
            Location(file, text.line_at(min(error.pos, len(text.text)))), f"malformed JSON array: {error.msg}"
        ) from None
