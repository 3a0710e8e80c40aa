"""What the heatmap and the trend count: an item's mentions (``mentions_of``, see nlp.heatmap), and
the column an item falls in (``column_of``; ``week`` is the ISO week of its date)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nlp.alerts.mentions import customer_aspects
from nlp.schema import Result
from nlp.themes import Theme

UNASSIGNED = Theme(id="unassigned", label="未归类", keywords=(), department="", discovered=False)
WEEK = "week"
TIER = "tier"


@dataclass(frozen=True)
class Mention:
    """One counted mention: its theme, polarity, score, how negative it reads, the text it quotes and
    its place among the result's aspects (0 for a whole-answer mention)."""

    theme: str
    negative: bool
    score: float
    negative_probability: float
    text: str
    unit: int = 0


def mentions_of(result: Result) -> list[Mention]:
    """The mentions ``result`` counts (see nlp.heatmap), in the order of its aspects."""
    spoken = customer_aspects(result)  # an agent's "如需投诉请拨打…" is not the customer's opinion
    themed = [
        Mention(a.theme, a.label == "negative", a.sentiment.score, a.sentiment.negative_probability, a.text, i)
        for i, a in enumerate(spoken)
        if a.theme
    ]
    if themed:
        return themed
    themes = tuple(dict.fromkeys(result.themes)) or (UNASSIGNED.id,)
    s = result.sentiment
    return [
        Mention(t, s.label == "negative", s.score, s.negative_probability, result.text, i) for i, t in enumerate(themes)
    ]


def mentions_by_theme(result: Result) -> dict[str, list[Mention]]:
    """``mentions_of(result)`` grouped by theme, themes in the order first mentioned."""
    groups: dict[str, list[Mention]] = {}
    for mention in mentions_of(result):
        groups.setdefault(mention.theme, []).append(mention)
    return groups


def iso_week(date: object) -> str | None:
    """'2026-11-02' → '2026-W45' (ISO week); None when the date is missing or not ISO."""
    if not isinstance(date, str) or len(date) < 10:
        return None
    try:
        year, week, _ = dt.date.fromisoformat(date[:10]).isocalendar()
    except ValueError:
        return None
    return f"{year}-W{week:02d}"


def column_of(result: Result, dimension: str, unknown: str) -> str:
    """The item's value of ``dimension`` (``week`` is derived from meta.date), or ``unknown``."""
    value = iso_week(result.meta.get("date")) if dimension == WEEK else result.meta.get(dimension)
    if value is None or (isinstance(value, str) and not value.strip()):
        return unknown
    return str(value).strip()


def top_theme(result: Result) -> str:
    """The row of the result's first mention (its first themed aspect's theme, or ``unassigned``)."""
    return mentions_of(result)[0].theme


__all__ = [
    "TIER",
    "UNASSIGNED",
    "WEEK",
    "Mention",
    "column_of",
    "iso_week",
    "mentions_by_theme",
    "mentions_of",
    "top_theme",
]
