"""A cell's example quotes: the units of its most negative mentions, distinct, most negative first,
whitespace folded and cut to ``HeatmapConfig.example_chars``; kept bounded while a stream is tallied
(``offer_quote``) or merged from pieces (``best_quotes``, the service's stored aggregates)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from nlp.config import HeatmapConfig

# (-negative_probability, item id, arrival, unit): the order quotes are chosen in. The arrival number
# (the service: items.id) breaks ties between equal (probability, id), in input order, and the unit
# between mentions of one item; a rank is thus unique within a cell.
Rank = tuple[float, str, int, int]
Quote = tuple[Rank, str]


def offer_quote(top: list[Quote], quote: Quote, limit: int) -> None:
    """Keep in ``top`` (sorted by rank, distinct texts, at most ``limit``) the best quotes offered so far:
    a text already there keeps its better rank, a new one enters when it ranks above the last."""
    rank, text = quote
    for i, (held, held_text) in enumerate(top):
        if held_text == text:
            if rank < held:
                del top[i]
                bisect.insort(top, quote)
            return
    if len(top) < limit:
        bisect.insort(top, quote)
    elif top and rank < top[-1][0]:
        bisect.insort(top, quote)
        top.pop()


def best_quotes(quotes: Iterable[Quote], limit: int) -> list[Quote]:
    """The ``limit`` best-ranked quotes of distinct texts (each text at its best rank), in rank order:
    what ``offer_quote`` keeps, for quotes gathered in pieces (the best of each piece suffice)."""
    out: list[Quote] = []
    seen: set[str] = set()
    for quote in sorted(quotes):
        if len(out) >= limit:
            break
        if quote[1] not in seen:
            seen.add(quote[1])
            out.append(quote)
    return out


def example_text(text: str, config: HeatmapConfig) -> str:
    """A cell's quote of ``text``: whitespace folded, cut to ``config.example_chars`` (empty for a blank
    text, which is never quoted). For tallies kept outside this module (the service's stored
    aggregates) to quote alike."""
    return _shorten(text, config.example_chars)


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


__all__ = ["Quote", "Rank", "best_quotes", "example_text", "offer_quote"]
