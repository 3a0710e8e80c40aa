"""Bytes → text a chunk at a time, so that an input of any size is never held whole.

The encoding is chosen from a bounded sample: the first `sample_bytes` of the file or, when those
are plain ASCII, the `sample_bytes` that follow the first non-ASCII byte (an export whose Chinese
starts late is still told apart, GBK from UTF-8). A file that fits in the sample is decoded by
decode_bytes, exactly as a whole file always was; a longer one is then decoded incrementally and a
byte that does not decode, or binary data, raises InputError naming the line when it is met.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from nlp.errors import InputError, Location
from nlp.readers.encoding import (
    CONTROL_CHARS,
    MAX_CONTROL_SHARE,
    binary_hint,
    decode_bytes,
    gb_or_big5,
    mostly_utf8,
)

# Fewer bytes than this cannot even hold a byte-order mark and a few characters.
MIN_SAMPLE_BYTES = 64
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_BREAK = re.compile(r"(\r\n|\r|\n)")
# The longest character in the encodings we accept (UTF-8, GB18030 four-byte, a UTF-16 surrogate
# pair): an error this close to the end of a chunk may be a character cut in two, not a bad byte.
_MAX_CHAR_BYTES = 4
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xfe", "utf-16", "utf-16-le"),
    (b"\xfe\xff", "utf-16", "utf-16-be"),
)


def _first_error(data: bytes, codec: str, final: bool) -> UnicodeDecodeError | None:
    """The first decoding error in `data`, or None; unless `final`, a character cut at the end is no error."""
    try:
        codecs.getincrementaldecoder(codec)("strict").decode(data, final)
    except UnicodeDecodeError as error:
        return error
    return None


def _breaks(text: str) -> int:
    """Line breaks in `text` as split_lines counts them (CRLF, LF or a lone CR)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class TextSource:
    """One input's text, decoded from a binary stream a chunk at a time.

    `encoding` is known once constructed (the sample has been read); `chunks()` yields the text in
    order, once. Raises InputError (from the constructor for the sample, from `chunks()` later) for
    an empty, undecodable or binary input, naming the file and line.
    """

    def __init__(self, stream: BinaryIO, file: str, sample_bytes: int, chunk_bytes: int) -> None:
        self.file = file
        self._stream = stream
        self._chunk_bytes = chunk_bytes
        self._whole: str | None = None
        self._codec = ""
        self._skip = 0  # a byte-order mark the codec does not drop itself
        sample_bytes = max(sample_bytes, MIN_SAMPLE_BYTES)
        head = stream.read(sample_bytes + 1)
        self._head = head[:16]  # enough for binary_hint's signatures
        if len(head) <= sample_bytes:
            self._whole, self.encoding = decode_bytes(head, file)
        else:
            self.encoding = self._detect(head, sample_bytes)

    def _detect(self, head: bytes, sample_bytes: int) -> str:
        for bom, name, codec in _BOMS:
            if head.startswith(bom):
                self._codec, self._skip = codec, len(bom)
                return name
        has_bom = head.startswith(b"\xef\xbb\xbf")
        if has_bom:
            self._skip = 3
        found = self._find_non_ascii(head)
        if found is None:
            self._codec = "utf-8"
            return "utf-8"  # ASCII all through: any encoding we accept reads it the same
        offset, lines_before = found
        self._stream.seek(offset)
        sample = self._stream.read(sample_bytes)
        final = len(sample) < sample_bytes
        utf8 = _first_error(sample, "utf-8", final)
        if utf8 is None:
            self._codec = "utf-8"
            return "utf-8-sig" if has_bom else "utf-8"
        line = lines_before + sample.count(b"\n", 0, utf8.start) + 1
        if mostly_utf8(sample):
            raise InputError(
                Location(self.file, line),
                f"UTF-8 text with an invalid byte 0x{sample[utf8.start]:02x} at offset {offset + utf8.start}; "
                "the file is corrupted or truncated, or mixes encodings",
            )
        gb = _first_error(sample, "gb18030", final)
        if gb is None:
            big5_too = _first_error(sample, "big5", final) is None
            self._codec = gb_or_big5(sample) if big5_too else "gb18030"
            return self._codec
        furthest = max(utf8, gb, key=lambda error: error.start)
        line = lines_before + sample.count(b"\n", 0, furthest.start) + 1
        raise InputError(
            Location(self.file, line),
            f"not UTF-8 or GB18030 text: undecodable byte 0x{sample[furthest.start]:02x} at offset "
            f"{offset + furthest.start}{binary_hint(head)}",
        )

    def _find_non_ascii(self, head: bytes) -> tuple[int, int] | None:
        """(offset, LF count before it) of the first non-ASCII byte, reading on past an ASCII head."""
        block, start, lines = head, 0, 0
        while block:
            match = _NON_ASCII.search(block)
            if match is not None:
                return start + match.start(), lines + block.count(b"\n", 0, match.start())
            start, lines = start + len(block), lines + block.count(b"\n")
            block = self._stream.read(self._chunk_bytes)
        return None

    def chunks(self) -> Iterator[str]:
        """The text in order, a chunk at a time (a file that fitted in the sample comes as one chunk)."""
        if self._whole is not None:
            if self._whole:
                yield self._whole
            return
        yield from self._decode()

    def _decode(self) -> Iterator[str]:
        self._stream.seek(self._skip)
        offset, pending = self._skip, b""
        lines, last_cr, first = 0, False, True
        control, control_line, first_control, length, content = 0, 0, "", 0, False
        while True:
            block = self._stream.read(self._chunk_bytes)
            data = pending + block
            if not data:
                break
            try:
                text, pending = data.decode(self._codec), b""
            except UnicodeDecodeError as error:
                if block and error.start >= len(data) - _MAX_CHAR_BYTES:
                    text, pending = data[: error.start].decode(self._codec), data[error.start :]
                else:
                    good = data[: error.start].decode(self._codec)
                    line = lines + _breaks(good) - (last_cr and good.startswith("\n")) + 1
                    raise self._undecodable(data[error.start], offset + error.start, line) from None
            offset += len(data) - len(pending)
            if first:
                text, first = text.removeprefix("\ufeff"), False  # a GB18030 byte-order mark
            found = CONTROL_CHARS.search(text)
            if found is not None:
                if not control:
                    start = text[: found.start()]
                    control_line = lines + _breaks(start) - (last_cr and start.startswith("\n")) + 1
                    first_control = found.group()
                control += len(CONTROL_CHARS.findall(text))
                if "\x00" in text:
                    raise self._binary(control, first_control, control_line)
            length += len(text)
            content = content or bool(text.strip(" \t\r\n"))
            lines += _breaks(text) - (last_cr and text.startswith("\n"))
            last_cr = text.endswith("\r") or (last_cr and not text)
            if text:
                yield text
            if not block:
                break
        if not content:
            raise InputError(Location(self.file), "the file is empty")
        if control > MAX_CONTROL_SHARE * length:
            raise self._binary(control, first_control, control_line)

    def _undecodable(self, byte: int, offset: int, line: int) -> InputError:
        if self._codec == "utf-8":
            message = (
                f"UTF-8 text with an invalid byte 0x{byte:02x} at offset {offset}; "
                "the file is corrupted or truncated, or mixes encodings"
            )
        else:
            message = f"not {self.encoding} text after all: undecodable byte 0x{byte:02x} at offset {offset}"
            if self.encoding == "gb18030":
                message = f"not UTF-8 or GB18030 text: undecodable byte 0x{byte:02x} at offset {offset}"
        return InputError(Location(self.file, line), message)

    def _binary(self, count: int, first: str, line: int) -> InputError:
        return InputError(
            Location(self.file, line),
            f"binary data, not text: {count} control characters (first U+{ord(first):04X}){binary_hint(self._head)}",
        )


def _split_keeping_ends(text: str) -> list[str]:
    """`text` cut after each line break; the last part is what follows the last break ("" if none)."""
    if "\r" not in text:
        parts = text.split("\n")
        return [part + "\n" for part in parts[:-1]] + [parts[-1]]
    pieces = _BREAK.split(text)
    return [pieces[i] + pieces[i + 1] for i in range(0, len(pieces) - 1, 2)] + [pieces[-1]]


def raw_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines with their endings (CRLF, LF or CR) as written, as io.StringIO(text, newline="") gives
    them: what csv.reader needs to keep a line break inside a quoted field as it was."""
    pending: list[str] = []
    for chunk in chunks:
        if "\n" not in chunk and "\r" not in chunk and not (pending and pending[-1].endswith("\r")):
            pending.append(chunk)
            continue
        text = "".join(pending) + chunk
        held = ""
        if text.endswith("\r"):
            text, held = text[:-1], "\r"  # it may be the first half of a CRLF in the next chunk
        *complete, rest = _split_keeping_ends(text)
        yield from complete
        pending = [rest + held] if rest or held else []
    if pending:
        yield "".join(pending)


def numbered_lines(chunks: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(1-based number, line without its ending) exactly as enumerate(split_lines(text), 1) gives,
    a trailing empty line after a final line break included."""
    number, ended = 0, True
    for raw in raw_lines(chunks):
        number += 1
        if raw.endswith("\r\n"):
            yield number, raw[:-2]
        elif raw.endswith(("\n", "\r")):
            yield number, raw[:-1]
        else:
            ended = False
            yield number, raw
            continue
        ended = True
    if ended:
        yield number + 1, ""
