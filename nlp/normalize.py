"""Text normalisation for analysis: full-width → half-width for ASCII, folded whitespace, and
traditional → simplified Chinese. The original text is kept by the caller; this is the analysis view.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_SPACE = re.compile(r"[\s\u3000\u00a0\u200b\ufeff]+")
# Full-width ASCII variants (！ to ～, including ，：；) map to their half-width forms by a fixed
# offset, one character for one, so offsets found in the half-width view hold in the original.
# Punctuation with no ASCII twin (。、“”【】) is left alone.
_FULL_TO_HALF = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_TO_HALF[0x3000] = 0x20


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_halfwidth(text: str) -> str:
    """Full-width letters, digits and ASCII punctuation to half-width (ＡＢＣ１２３ → ABC123)."""
    return text.translate(_FULL_TO_HALF)


def fold_whitespace(text: str) -> str:
    """Collapse runs of any whitespace (including ideographic space, NBSP, zero-width, BOM) to one space."""
    return _SPACE.sub(" ", text).strip()


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s)."""
    return str(_t2s().convert(text))


def normalize(text: str) -> str:
    """The analysis view of a text: NFC, half-width ASCII, folded whitespace, simplified Chinese."""
    return to_simplified(fold_whitespace(to_halfwidth(unicodedata.normalize("NFC", text))))
