"""Sentence windows for texts longer than a model's context.

A long review is cut at sentence ends (。！？!?；; and newlines) into windows that each fit the
model, instead of being truncated: the verdict of a review is as often in its last sentence
(总之不推荐) as in its first. Only a single sentence longer than a window is cut inside, into
overlapping token chunks, so that no clause loses the words on either side of a cut.

Pure functions on counts and ranges; the scorer does the tokenising.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The marks that close a sentence. Normalised text has half-width ! ? ; but 。 stays full-width.
SENTENCE_MARKS = "。！？!?；;\n"
# A sentence is a run of text up to and including its closing marks; text after the last mark
# (no closing mark) is a sentence too.
_SENTENCE = re.compile(f"[^{SENTENCE_MARKS}]+[{SENTENCE_MARKS}]*|[{SENTENCE_MARKS}]+")


def sentence_ends(text: str) -> list[int]:
    """Character offsets just past each sentence of `text` (its closing marks included); the last
    one is len(text) for a text that does not end with a mark."""
    ends = [match.end() for match in _SENTENCE.finditer(text)]
    if not ends or ends[-1] != len(text):
        ends.append(len(text))
    return ends


def pack_sentences(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Greedy [start, end) ranges of consecutive sentences whose token counts sum to ≤ `budget`.

    A sentence longer than `budget` gets a range of its own (the caller cuts it into chunks).
    """
    if budget < 1:
        raise ValueError(f"window budget must be at least 1 token, got {budget}")
    ranges: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, count in enumerate(counts):
        if index > start and used + count > budget:
            ranges.append((start, index))
            start, used = index, 0
        used += count
    if start < len(counts):
        ranges.append((start, len(counts)))
    return ranges


def chunk_tokens(n_tokens: int, budget: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most `budget` tokens covering `n_tokens`, consecutive ranges sharing
    `overlap` tokens (the manifest's window_stride). The last range ends at `n_tokens`."""
    if budget < 1 or not 0 <= overlap < budget:
        raise ValueError(f"need budget >= 1 and 0 <= overlap < budget, got {budget} and {overlap}")
    if n_tokens <= budget:
        return [(0, n_tokens)]
    step = budget - overlap
    ranges = []
    start = 0
    while start + budget < n_tokens:
        ranges.append((start, start + budget))
        start += step
    # The last chunk is a full one ending at the text's end, so it never degenerates into a few tokens.
    ranges.append((max(n_tokens - budget, 0), n_tokens))
    return ranges


def token_windows(sentence_counts: Sequence[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of the windows of a text whose sentences have these token counts:
    whole sentences packed up to `budget` tokens; a sentence alone longer than that cut into chunks
    sharing `overlap` tokens."""
    offsets = [0]
    for count in sentence_counts:
        offsets.append(offsets[-1] + count)
    windows: list[tuple[int, int]] = []
    for first, last in pack_sentences(sentence_counts, budget):
        start, end = offsets[first], offsets[last]
        if end - start <= budget:
            windows.append((start, end))
        else:
            windows.extend((start + a, start + b) for a, b in chunk_tokens(end - start, budget, overlap))
    return windows


__all__ = ["SENTENCE_MARKS", "chunk_tokens", "pack_sentences", "sentence_ends", "token_windows"]
