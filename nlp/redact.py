"""Redaction of personal data, run before anything is stored or logged.

Numbers and e-mails are found by patterns on the half-width view of the text (so １３８… is caught; the
view maps one character to one, so offsets hold) and replaced in the original text. Long numbers are
taken only when they validate (GB 11643 checksum and birth date for ID numbers, Luhn for bank cards),
and a number right after an order/waybill word is left alone — customer-service text is full of order,
waybill and SKU numbers that look like cards or phones. Person names come from a `PersonNameFinder`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import TYPE_CHECKING

from nlp.config import RedactionConfig
from nlp.normalize import to_halfwidth

if TYPE_CHECKING:
    from nlp.ner import PersonNameFinder

# Kind (the key in Redacted.counts) → placeholder.
PLACEHOLDERS: dict[str, str] = {
    "phone": "[手机号]",
    "landline": "[电话]",
    "id_card": "[身份证]",
    "bank_card": "[银行卡]",
    "email": "[邮箱]",
    "person_name": "[姓名]",
    # Only whole metadata fields are these (nlp.personal): the text patterns do not find them.
    "address": "[地址]",
    "customer_id": "[客户编号]",
}
PLACEHOLDER_PATTERN = re.compile("|".join(map(re.escape, PLACEHOLDERS.values())))
# Ours and those of exports anonymised before they reach us ([数字], [订单号], [链接], [姓名]).
ANY_PLACEHOLDER = re.compile(r"\[[^\[\]\s]{1,8}\]")


def blank_placeholders(text: str) -> str:
    """`text` with each placeholder (ours or an export's own) replaced by as many spaces, so offsets
    hold: a placeholder is not a word of what the customer said, so it is neither a keyword nor an aspect."""
    return ANY_PLACEHOLDER.sub(lambda m: " " * len(m.group()), text) if "[" in text else text


_DEFAULT_CONFIG = RedactionConfig()

# Not preceded / followed by a letter or digit: a phone-shaped run inside a longer number or a code such
# as JD0012345678 must not be matched in part.
_B = r"(?<![0-9A-Za-z])"
_E = r"(?![0-9A-Za-z])"
_MOBILE = re.compile(_B + r"(?:(?:\+|00)?86[ -]?|\(\+?86\)[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _E)
# Area code 0xx/0xxx (optionally in brackets), a 7–8 digit local number starting 2–9, an extension.
_LANDLINE = re.compile(
    _B + r"(?:\(0[1-9]\d{1,2}\)|0[1-9]\d{1,2})[ -]?[1-9]\d{2,3}[ -]?\d{4}(?:(?:-|转|ext\.?|x|#)\d{1,6})?" + _E
)
_HOTLINE = re.compile(_B + r"[48]00(?:[ -]?\d){7}" + _E)
_ID18 = re.compile(_B + r"\d{6}[ -]?\d{8}[ -]?\d{3}[0-9Xx]" + _E)
_ID15 = re.compile(_B + r"\d{15}" + _E)
_CARD = re.compile(_B + r"(?:\d{16,19}|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?)" + _E)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9])")
_NOT_DIGIT = re.compile(r"\D")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a resident ID: the province-level region (GB/T 2260), plus 83 (Taiwan residents).
_ID_PROVINCES = frozenset(
    str(code)
    for code in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
    )
) | {"71", "81", "82", "83"}


@dataclass(frozen=True)
class Redacted:
    """A text with personal data replaced by typed placeholders, and how many of each kind were replaced."""

    text: str
    counts: dict[str, int]


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    kind: str | None  # None: an exempt number (an order number) that only blocks other matches


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (bank cards)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _birth_date_plausible(yyyymmdd: str, config: RedactionConfig) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return config.id_min_birth_year <= born.year and born <= date.today()


def id_card_valid(number: str, config: RedactionConfig = _DEFAULT_CONFIG) -> bool:
    """Whether an 18-character ID number (GB 11643) has a known province, a plausible birth date and
    a valid check character (X or x for 10)."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _ID_PROVINCES:
        return False
    if not _birth_date_plausible(number[6:14], config):
        return False
    check = _ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True)) % 11]
    return number[17].upper() == check


def _context_before(lowered: str, start: int, config: RedactionConfig) -> str:
    return lowered[max(0, start - config.context_window) : start]


def _order_number_context(lowered: str, start: int, config: RedactionConfig) -> bool:
    """An order/waybill word shortly before, and no personal cue (电话, 卡号…) there to say otherwise."""
    window = _context_before(lowered, start, config)
    return any(w.lower() in window for w in config.order_context_words) and not any(
        w in window for w in config.personal_context_words
    )


def find_personal_data(text: str, config: RedactionConfig = _DEFAULT_CONFIG) -> list[tuple[int, int, str]]:
    """Spans (start, end, kind) of phone numbers, ID numbers, bank cards and e-mails, sorted, non-overlapping.

    Matching is done on the half-width view, so the spans index `text` itself.
    """
    view = to_halfwidth(text)
    if not any(c.isdigit() or c == "@" for c in view):
        return []
    lowered = view.lower()
    candidates: list[_Match] = []
    # In priority order: the first accepted match of overlapping ones wins.
    for m in _ID18.finditer(view):
        if id_card_valid(_NOT_DIGIT.sub("", m.group()[:-1]) + m.group()[-1], config):
            candidates.append(_Match(m.start(), m.end(), "id_card"))
    for m in _ID15.finditer(view):
        cue = _context_before(lowered, m.start(), config)
        if any(w in cue for w in config.old_id_context_words) and _birth_date_plausible("19" + m.group()[6:12], config):
            candidates.append(_Match(m.start(), m.end(), "id_card"))
    for m in _CARD.finditer(view):
        if luhn_valid(_NOT_DIGIT.sub("", m.group())):
            exempt = _order_number_context(lowered, m.start(), config)
            candidates.append(_Match(m.start(), m.end(), None if exempt else "bank_card"))
    candidates.extend(_Match(m.start(), m.end(), "email") for m in _EMAIL.finditer(view))
    for pattern, kind in ((_MOBILE, "phone"), (_HOTLINE, "landline"), (_LANDLINE, "landline")):
        for m in pattern.finditer(view):
            exempt = _order_number_context(lowered, m.start(), config)
            candidates.append(_Match(m.start(), m.end(), None if exempt else kind))
    accepted: list[_Match] = []
    for c in candidates:
        if all(c.end <= a.start or c.start >= a.end for a in accepted):
            accepted.append(c)
    return sorted((a.start, a.end, a.kind) for a in accepted if a.kind is not None)


class Redactor:
    """Replaces personal data with typed placeholders (see PLACEHOLDERS).

    Person names are redacted only when `config.person_names` is on and a `names` finder is given.
    Redacting a redacted text changes nothing more.
    """

    def __init__(self, config: RedactionConfig = _DEFAULT_CONFIG, names: PersonNameFinder | None = None) -> None:
        self.config = config
        self.names = names if config.person_names else None

    def __call__(self, text: str) -> Redacted:
        """The redacted text and the count of each kind replaced."""
        names = self.names(text) if self.names is not None else []
        return self._redact(text, names)

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[Redacted]:
        """Redacted texts in input order; names are found a batch at a time."""
        stream = iter(texts)
        while batch := list(islice(stream, batch_size)):
            if self.names is None:
                yield from (self._redact(text, []) for text in batch)
            else:
                names = self.names.pipe(batch, batch_size=len(batch))
                yield from (self._redact(text, spans) for text, spans in zip(batch, names, strict=True))

    def _redact(self, text: str, names: list[tuple[int, int]]) -> Redacted:
        spans = find_personal_data(text, self.config)
        # Names never override a number or e-mail, and never re-redact an existing placeholder.
        taken = [(s, e) for s, e, _ in spans] + [m.span() for m in PLACEHOLDER_PATTERN.finditer(text)]
        for start, end in names:
            if all(end <= s or start >= e for s, e in taken):
                spans.append((start, end, "person_name"))
        spans.sort()
        parts: list[str] = []
        counts: Counter[str] = Counter()
        position = 0
        for start, end, kind in spans:
            parts += [text[position:start], PLACEHOLDERS[kind]]
            counts[kind] += 1
            position = end
        parts.append(text[position:])
        return Redacted("".join(parts), dict(counts))
