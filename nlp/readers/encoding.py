"""Bytes → text, detected rather than assumed, and text → JSON records.

Both steps reject a whole input (InputError naming file and line) rather than half-read it:
a file that cannot be decoded, looks binary, is empty, or holds a malformed JSON line.
"""

from __future__ import annotations

import re
from typing import Any

from nlp.errors import InputError, Location

# Control characters other than tab/newline/carriage return/form feed/vertical tab. A text export
# may carry a stray one (an old DOS end-of-file mark, a pasted terminal escape); binary data is
# full of them. NUL never occurs in text we accept.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# Above this share of control characters a decoded file is taken for binary data.
MAX_CONTROL_SHARE = 0.01
# Valid non-ASCII characters per invalid byte above which a file is damaged UTF-8, not GBK.
MIN_UTF8_GOOD_PER_BAD = 10

# Well-known binary signatures, to tell the user what they uploaded instead of only "undecodable".
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP container (an .xlsx workbook? give it the .xlsx extension)"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (.xls/.doc); save it as .xlsx or CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive; decompress it first"),
)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def binary_hint(data: bytes) -> str:
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            return f"; it looks like {what}"
    return ""


def gb_or_big5(data: bytes) -> str:
    """Choose between GB18030 and Big5 for bytes that decode strictly as both.

    Big5 (traditional Chinese) bytes usually also decode as GB18030, into nonsense. Only then is
    charset-normalizer asked, and only between these two; GB18030 wins ties, as GBK is the
    expected non-UTF-8 encoding.
    """
    import charset_normalizer  # only needed for this rare case; slow to import

    best = charset_normalizer.from_bytes(data, cp_isolation=["gb18030", "big5"]).best()
    return "big5" if best is not None and best.encoding == "big5" else "gb18030"


def decode_bytes(data: bytes, file: str) -> tuple[str, str]:
    """Decode a text file; return (text, encoding name).

    Tries, strictly: UTF-16 when it carries a BOM, UTF-8 (with or without BOM), then GB18030 (a
    superset of GBK and GB2312), with Big5 only when charset-normalizer prefers it over GB18030.
    Raises InputError for an empty, undecodable or binary file, naming the line of the first
    undecodable byte.
    """
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError(Location(file), "the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "gb18030")
    furthest: UnicodeDecodeError | None = None
    for codec in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as error:
            if codec == "utf-8-sig" and mostly_utf8(data):
                raise InputError(
                    Location(file, _line_of(data, error.start)),
                    f"UTF-8 text with an invalid byte 0x{data[error.start]:02x} at offset {error.start}; "
                    "the file is corrupted or truncated, or mixes encodings",
                ) from None
            if furthest is None or error.start > furthest.start:
                furthest = error
            continue
        if codec == "utf-8-sig":
            encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        elif codec == "gb18030" and _decodes(data, "big5"):
            encoding = gb_or_big5(data)
            text = data.decode(encoding)
        else:
            encoding = codec
        # A GB18030 BOM (84 31 95 33) decodes to U+FEFF; it is a mark, not content.
        text = text.removeprefix("\ufeff")
        _reject_binary(text, data, file)
        return text, encoding
    assert furthest is not None
    line = _line_of(data, furthest.start)
    raise InputError(
        Location(file, line),
        f"not UTF-8 or GB18030 text: undecodable byte 0x{data[furthest.start]:02x} at offset "
        f"{furthest.start}{binary_hint(data)}",
    )


def mostly_utf8(data: bytes) -> bool:
    """True when non-ASCII text decodes as UTF-8 but for a few bytes: a damaged UTF-8 file, which
    GB18030 would otherwise turn into fluent nonsense. GBK text read as UTF-8 fails at nearly
    every Chinese character instead."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    return good > MIN_UTF8_GOOD_PER_BAD * bad


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _reject_binary(text: str, data: bytes, file: str) -> None:
    first = CONTROL_CHARS.search(text)
    if first is None:
        return
    count = len(CONTROL_CHARS.findall(text))
    if "\x00" in text or count > MAX_CONTROL_SHARE * len(text):
        line = text.count("\n", 0, first.start()) + 1
        raise InputError(
            Location(file, line),
            f"binary data, not text: {count} control characters (first U+{ord(first.group()):04X}){binary_hint(data)}",
        )


def split_lines(text: str) -> list[str]:
    """Split on newlines only (CRLF, LF or CR): str.splitlines would also split on U+2028, U+0085
    and form feeds, which may stand raw inside a JSON string or a transcript turn."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_json_lines(text: str, file: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse JSON Lines into (line number, object) pairs, skipping blank lines.

    A whole-file JSON array of objects (or a single, possibly pretty-printed object) is accepted
    too; array elements are then numbered 1, 2, ... A malformed line or a value that is not an
    object rejects the input with an InputError naming the line. (nlp.readers.json_records reads
    the same one record at a time.)
    """
    from nlp.readers.json_records import iter_json_records  # it builds on this module

    return list(iter_json_records([text], file))
