"""What the share and rise rules count: aspect mentions, each with its own polarity.

An answer "味道不错，但是送餐太慢了" is one positive mention of 口味 and one negative mention of 物流, so the
negative share of 物流 is negative 物流 mentions over 物流 mentions, whatever the answer's overall label.
A result without themed aspects (stored before aspects, or whose units no theme covers) counts as
before: once under each of its themes with its own label, and once in a segment without a theme.

Pure: no clock, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlp.schema import Aspect, Result


@dataclass(frozen=True, slots=True)
class Mention:
    """One thing counted in a cell: the theme (None for an item counted without one), whether it is
    negative, and what an example of it quotes (the opinion unit, else the answer)."""

    theme: str | None
    negative: bool
    text: str
    negative_probability: float


def customer_aspects(result: Result) -> tuple[Aspect, ...]:
    """The result's aspects that the customer said: in a call, a unit of an agent turn ("如需投诉请拨打…")
    is not the customer's opinion."""
    if not result.turns:
        return result.aspects
    turns = result.turns
    return tuple(
        a
        for a in result.aspects
        if a.turn is None or not 0 <= a.turn < len(turns) or turns[a.turn].speaker == "customer"
    )


def _of_aspect(aspect: Aspect) -> Mention:
    return Mention(aspect.theme, aspect.label == "negative", aspect.text, aspect.sentiment.negative_probability)


def _of_item(result: Result, theme: str | None) -> Mention:
    sentiment = result.sentiment
    return Mention(theme, sentiment.label == "negative", result.text, sentiment.negative_probability)


@dataclass(frozen=True, slots=True)
class Mentions:
    """A result's mentions, computed once and read by every grouping.

    `by_theme`: one per themed aspect (the theme's mentions), else one per distinct theme of the result;
    `in_segment`: one per themed aspect, else the item once. `themes`: the distinct themes counted.
    """

    by_theme: tuple[Mention, ...]
    in_segment: tuple[Mention, ...]
    themes: tuple[str, ...]
    item: Mention

    @classmethod
    def of(cls, result: Result) -> Mentions:
        item = _of_item(result, None)
        themed = tuple(_of_aspect(a) for a in customer_aspects(result) if a.theme)
        if themed:
            themes = tuple(dict.fromkeys(m.theme for m in themed if m.theme is not None))
            return cls(themed, themed, themes, item)
        themes = tuple(dict.fromkeys(result.themes))
        return cls(tuple(_of_item(result, t) for t in themes), (item,), themes, item)
