"""Opinion units: an answer or a customer turn cut into clauses, each with its span in the text.

A unit ends at clause punctuation (，。！？；, line breaks, spaces between call fragments) and before
a contrast word inside a clause (味道不错但是排队太久 → 味道不错 | 但是排队太久), so praise and blame in
one sentence are read apart. ``、`` and ``和`` do not cut: 环境、服务都很好 is one opinion about two
things. Merging a unit that names a thing without judging it with the next one that judges without
naming (这家店的服务，真的很差) is done by the extractor, which knows the words (nlp.aspects.extract).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from nlp.sentiment.windows import SENTENCE_MARKS, sentence_ends

# Clause-ending punctuation, full- and half-width, and whitespace runs.
_BOUNDARY = re.compile(r"[,.!?;:~，。！？；：～…\n\r\t ]+")
# Contrast words that open a new opinion inside a clause (longest first so 但是 wins over 但).
CONTRAST = ("但是", "可是", "不过", "然而", "只是", "就是有点", "但")
_CONTRAST = re.compile("|".join(CONTRAST))
_WORDLIKE = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]")
# A contrast word is only a cut after this many characters of the clause (但 in 但愿 is not one).
_MIN_BEFORE = 2
# What is left around a one-clause answer's only unit: punctuation and spaces (好评！ is the unit 好评).
_TRIM = " \t\n\r,.!?;:~，。！？；：～…、"


@dataclass(frozen=True)
class Unit:
    """A clause of ``text`` at ``start``:``end``."""

    text: str
    start: int
    end: int


def _contrast_cuts(clause: str) -> list[int]:
    cuts = []
    for match in _CONTRAST.finditer(clause):
        if match.start() >= _MIN_BEFORE and not (
            match.group() == "但" and clause[match.start() : match.start() + 2] == "但愿"
        ):
            cuts.append(match.start())
    return cuts


def split_units(text: str) -> list[Unit]:
    """The clauses of ``text`` that hold a word, in order, with their spans."""
    units: list[Unit] = []
    position = 0
    for boundary in [*_BOUNDARY.finditer(text), None]:
        end = boundary.start() if boundary else len(text)
        clause = text[position:end]
        starts = [0, *_contrast_cuts(clause), len(clause)]
        for a, b in itertools.pairwise(starts):
            piece = clause[a:b]
            if _WORDLIKE.search(piece):
                units.append(Unit(piece, position + a, position + b))
        if boundary is None:
            break
        position = boundary.end()
    return units


def sentence_span(text: str, position: int) -> tuple[int, int]:
    """Where the sentence of ``text`` that holds ``position`` starts and ends, its closing marks
    (。！？；, a line break) left out; sentences as the model's windows cut them (nlp.sentiment.windows)."""
    begin = 0
    for end in sentence_ends(text):
        if position < end:
            return begin, begin + len(text[begin:end].rstrip(SENTENCE_MARKS))
        begin = end
    return begin, len(text)


def is_whole(unit_text: str, text: str) -> bool:
    """Whether a unit is all of its answer or turn, but for the punctuation around it."""
    return unit_text == text.strip(_TRIM)


__all__ = ["CONTRAST", "Unit", "is_whole", "sentence_span", "split_units"]
