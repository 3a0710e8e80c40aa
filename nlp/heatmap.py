"""The demand heatmap (需求热力图) and the weekly trend: pure aggregation over aspect mentions.

Rows are demand themes, columns the values of one segment dimension (tier, channel, region, product,
week ...). What is counted is a *mention* (``mentions_of``), as the alert rules count them (nlp.alerts.mentions):
each aspect of a result whose theme is set (nlp.schema.Aspect; in a call, the customer's) counts once in
its theme's row, with the aspect's own polarity and score, so 「味道不错，但是送餐太慢了」 is a positive
mention under 口味 and a negative one under 物流. A result with no themed aspect counts one mention, with
its own sentiment, in the row ``unassigned``, so no item is lost — or, when it has themes all the same
(analysed before aspects existed, as results stored by the service before issue 14 are), one under
each of its themes. A result with two mentions of one theme counts 2
mentions but 1 item there: ``items`` are the distinct results of a cell. Results without the dimension
go to the column "未知".

A cell carries its mentions, items, negatives (negative mentions), the negative share of its mentions
with a Wilson interval at ``HeatmapConfig.confidence`` (mentions are taken as independent draws; two
mentions of one answer are not quite, so the interval of such a cell is a little narrow), the mean
score of its mentions, the priority, ``sparse`` (fewer than ``min_mentions`` mentions: a share that
rests on too little to compare) and example quotes: the units (``Aspect.text``) of its most negative
mentions, distinct, most negative first. ``count`` is kept in the JSON as an alias of ``mentions`` for
clients of the first API version.

``priority`` = mentions × (negatives + m × p) / (mentions + m): the number of unhappy mentions the cell
stands for, with its negative share shrunk toward the overall share p by m pseudo-mentions
(HeatmapConfig.prior_items), so that 2 angry mentions out of 2 do not outrank 120 out of 200.

Columns are in the order a reader expects: tiers in ``HeatmapConfig.tier_order`` (钻石 → 黄金 → 白银 →
基础; tiers not listed after them, most mentioned first), weeks and ISO dates in time order, numbers
(an NPS) in numeric order, any other dimension most mentioned first; the unknown column last.

Everything is computed from a ``CellTally`` per cell, so a stream of any length is tallied in bounded
memory by ``HeatmapAccumulator``, and stored aggregates (api.aggregates) give the same heatmap through
``assemble_heatmap``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from nlp.alerts.mentions import customer_aspects
from nlp.config import HeatmapConfig
from nlp.schema import Result
from nlp.themes import Theme

UNASSIGNED = Theme(id="unassigned", label="未归类", keywords=(), department="", discovered=False)
WEEK = "week"
TIER = "tier"
COUNTING = (
    "aspect mentions: each aspect with a theme counts one mention in its theme's row, with its own polarity; "
    "items = distinct answers of a cell (two mentions of one theme in an answer: 2 mentions, 1 item); an "
    "answer without a themed aspect counts one mention, with its own polarity, in row 'unassigned'; answers "
    "without the dimension are in the unknown column; count = mentions (kept for v1 clients)"
)
PRIORITY_FORMULA = "mentions * (negatives + m * p) / (mentions + m); p = overall negative share, m = prior_items"
INTERVAL = "Wilson score interval of the negative share of the mentions"


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
    """The mentions ``result`` counts (see the module docstring), in the order of its aspects."""
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


def wilson_interval(negatives: int, mentions: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the share negatives / mentions; (0, 1) for no mention.

    Unlike the normal approximation it stays inside [0, 1] and is wide where it should be: 1 of 1 is
    (0.21, 1.0) at 95 %, 150 of 300 is (0.44, 0.56).
    """
    if mentions <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = negatives / mentions
    z2n = z * z / mentions
    centre = (share + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(share * (1 - share) / mentions + z2n / (4 * mentions)) / (1 + z2n)
    low = 0.0 if negatives <= 0 else max(0.0, centre - half)
    high = 1.0 if negatives >= mentions else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Cell:
    theme: str
    column: str
    mentions: int
    items: int
    negatives: int
    negative_share: float
    negative_share_low: float
    negative_share_high: float
    mean_score: float
    priority: float
    sparse: bool
    examples: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """The mentions (the name of the first API version, when each item counted once)."""
        return self.mentions

    def to_dict(self) -> dict[str, Any]:
        return {
            "theme": self.theme,
            "column": self.column,
            "mentions": self.mentions,
            "items": self.items,
            "negatives": self.negatives,
            "negative_share": round(self.negative_share, 4),
            "negative_share_low": round(self.negative_share_low, 4),
            "negative_share_high": round(self.negative_share_high, 4),
            "mean_score": round(self.mean_score, 4),
            "priority": round(self.priority, 3),
            "sparse": self.sparse,
            "examples": list(self.examples),
            "count": self.mentions,
        }


@dataclass(frozen=True)
class Heatmap:
    """Themes × columns of one dimension; ``cells`` holds only the non-empty cells, row by row, each
    row's cells in column order."""

    dimension: str
    themes: tuple[Theme, ...]
    columns: tuple[str, ...]
    cells: tuple[Cell, ...]
    items: int
    mentions: int
    negative_share: float
    prior_items: float
    min_mentions: int
    confidence: float

    def cell(self, theme: str, column: str) -> Cell | None:
        return next((c for c in self.cells if c.theme == theme and c.column == column), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "items": self.items,
            "mentions": self.mentions,
            "counting": COUNTING,
            "priority_formula": PRIORITY_FORMULA,
            "prior_items": self.prior_items,
            "interval": INTERVAL,
            "confidence": self.confidence,
            "min_mentions": self.min_mentions,
            "overall_negative_share": round(self.negative_share, 4),
            "themes": [
                {"id": t.id, "label": t.label, "keywords": list(t.keywords), "department": t.department}
                for t in self.themes
            ],
            "columns": list(self.columns),
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class TrendPoint:
    week: str
    mentions: int
    items: int
    negatives: int
    negative_share: float
    negative_share_low: float
    negative_share_high: float

    @property
    def count(self) -> int:
        """The mentions (the first API version's name)."""
        return self.mentions

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "mentions": self.mentions,
            "items": self.items,
            "negatives": self.negatives,
            "negative_share": round(self.negative_share, 4),
            "negative_share_low": round(self.negative_share_low, 4),
            "negative_share_high": round(self.negative_share_high, 4),
            "count": self.mentions,
        }


@dataclass(frozen=True)
class Trend:
    """Negative share of each theme's mentions per ISO week (only weeks in which the theme has some)."""

    weeks: tuple[str, ...]
    series: Mapping[str, tuple[TrendPoint, ...]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    min_mentions: int = HeatmapConfig.min_mentions
    confidence: float = HeatmapConfig.confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "counting": COUNTING,
            "min_mentions": self.min_mentions,
            "confidence": self.confidence,
            "weeks": list(self.weeks),
            "series": [
                {
                    "theme": theme,
                    "label": self.labels.get(theme, theme),
                    "points": [p.to_dict() for p in points],
                }
                for theme, points in self.series.items()
            ],
        }


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


@dataclass(frozen=True)
class CellTally:
    """What one cell is computed from, however it was gathered (a stream of results, or aggregates
    stored per cell): its mentions, distinct items, negative mentions, the sum of the mentions' scores,
    and its example quotes (already shortened, distinct, most negative first, at most
    ``HeatmapConfig.examples_per_cell``)."""

    mentions: int
    items: int
    negatives: int
    score_sum: float
    examples: tuple[str, ...] = ()


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


class _RunningCell:
    """A cell being filled one result at a time: its counts, and its best quotes so far (bounded)."""

    __slots__ = ("items", "mentions", "negatives", "score_sum", "top")

    def __init__(self) -> None:
        self.mentions = 0
        self.items = 0
        self.negatives = 0
        self.score_sum = 0.0
        self.top: list[Quote] = []

    def add(self, group: Sequence[Mention], item_id: str, arrival: int, config: HeatmapConfig) -> None:
        """Count one item's mentions of this cell's theme."""
        self.items += 1
        limit = config.examples_per_cell
        for mention in group:
            self.mentions += 1
            self.negatives += mention.negative
            self.score_sum += mention.score
            rank = (-mention.negative_probability, item_id, arrival, mention.unit)
            # Below the last of a full list, a quote cannot enter (its text, if there, ranks better).
            if limit > 0 and (len(self.top) < limit or rank < self.top[-1][0]):
                text = example_text(mention.text, config)
                if text:
                    offer_quote(self.top, (rank, text), limit)

    def tally(self) -> CellTally:
        return CellTally(self.mentions, self.items, self.negatives, self.score_sum, tuple(t for _, t in self.top))


class HeatmapAccumulator:
    """The heatmaps of some dimensions and the weekly trend, tallied one result at a time.

    Memory grows with the cells (themes × columns of each dimension, themes × weeks), not with the
    results: a cell keeps four numbers and its ``examples_per_cell`` best quotes. Feed it with
    ``add``/``update``, then read ``heatmap(themes, dimension)`` and ``trend(themes)``; reading does not
    change it, so it may be read, fed more, and read again. ``theme`` keeps only that theme's mentions
    (the service's theme filter; ``unassigned`` is a theme here). ``build_heatmap`` and ``build_trend``
    are this accumulator fed with a list.
    """

    def __init__(
        self, dimensions: Sequence[str] = (), config: HeatmapConfig | None = None, theme: str | None = None
    ) -> None:
        self.dimensions = tuple(dict.fromkeys(dimensions))
        self.config = config or HeatmapConfig()
        self.theme = theme
        self.items_ = 0  # results counted (with a mention of `theme`, when given)
        self.seen_ = 0  # results offered
        self._cells: dict[str, dict[tuple[str, str], _RunningCell]] = {d: {} for d in self.dimensions}
        self._weeks: dict[tuple[str, str], list[int]] = {}

    def add(self, result: Result) -> None:
        """Count one result's mentions in every dimension's heatmap and, when it has a date, in the trend."""
        arrival = self.seen_
        self.seen_ += 1
        groups = mentions_by_theme(result)
        if self.theme is not None:
            groups = {theme: group for theme, group in groups.items() if theme == self.theme}
            if not groups:
                return
        self.items_ += 1
        for dimension, cells in self._cells.items():
            column = column_of(result, dimension, self.config.unknown_column)
            for theme, group in groups.items():
                cell = cells.get((theme, column))
                if cell is None:
                    cell = cells[(theme, column)] = _RunningCell()
                cell.add(group, result.id, arrival, self.config)
        week = iso_week(result.meta.get("date"))
        if week is not None:
            for theme, group in groups.items():
                tally = self._weeks.setdefault((theme, week), [0, 0, 0])
                tally[0] += len(group)
                tally[1] += 1
                tally[2] += sum(m.negative for m in group)

    def update(self, results: Iterable[Result]) -> HeatmapAccumulator:
        """``add`` each result (a list or a stream); returns the accumulator."""
        for result in results:
            self.add(result)
        return self

    def tallies(self, dimension: str) -> dict[tuple[str, str], CellTally]:
        """The tally of every non-empty (theme, column) cell of ``dimension``."""
        return {key: cell.tally() for key, cell in self._dimension(dimension).items()}

    def heatmap(self, themes: Sequence[Theme], dimension: str | None = None) -> Heatmap:
        """The heatmap of ``dimension`` (by default the first one asked for) over what was added."""
        if dimension is None:
            if not self.dimensions:
                raise ValueError("this HeatmapAccumulator tallies no dimension: pass dimensions=(...) to it")
            dimension = self.dimensions[0]
        return assemble_heatmap(dimension, themes, self.tallies(dimension), self.items_, self.config)

    def trend(self, themes: Sequence[Theme]) -> Trend:
        """The weekly trend of what was added (items without a date are left out)."""
        counts = {key: (m, i, n) for key, (m, i, n) in self._weeks.items()}
        return assemble_trend(themes, counts, self.config)

    def _dimension(self, dimension: str) -> dict[tuple[str, str], _RunningCell]:
        if dimension not in self._cells:
            raise ValueError(
                f"dimension {dimension!r} was not tallied; this HeatmapAccumulator tallies "
                f"{list(self.dimensions)} (pass the dimension when creating it)"
            )
        return self._cells[dimension]


def build_heatmap(
    results: Iterable[Result],
    themes: Sequence[Theme],
    dimension: str,
    config: HeatmapConfig | None = None,
    theme: str | None = None,
) -> Heatmap:
    """The heatmap of ``results`` over ``dimension`` (only ``theme``'s mentions, when given); rows in
    the order of ``themes`` (themes without mentions are kept, so ids stay visible), then
    ``unassigned`` and themes not listed."""
    return HeatmapAccumulator((dimension,), config, theme).update(results).heatmap(themes, dimension)


def _rows(themes: Sequence[Theme], used: set[str]) -> list[Theme]:
    rows = list(themes)
    known = {t.id for t in rows}
    if UNASSIGNED.id in used and UNASSIGNED.id not in known:
        rows.append(UNASSIGNED)
    missing = used - known - {UNASSIGNED.id}
    rows.extend(Theme(id=m, label=m, keywords=()) for m in sorted(missing))
    return rows


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def order_columns(dimension: str, mentions: Mapping[str, int], config: HeatmapConfig) -> tuple[str, ...]:
    """The columns (with their mentions) in reading order: tiers in ``config.tier_order`` (others after,
    most mentioned first), weeks and ISO dates in time order, numbers in numeric order, other values most
    mentioned first (ties by value); the unknown column last."""
    values = [c for c in mentions if c != config.unknown_column]
    if dimension == TIER:
        place = {tier: i for i, tier in enumerate(config.tier_order)}
        values.sort(key=lambda c: (place.get(c, len(place)), -mentions[c], c))
    elif dimension == WEEK or all(iso_week(c) is not None for c in values):
        values.sort()  # 2026-W45 < 2026-W46 < 2027-W01, and ISO dates alike: text order is time order
    elif all(_is_number(c) for c in values):
        values.sort(key=lambda c: (float(c), c))
    else:
        values.sort(key=lambda c: (-mentions[c], c))
    return (*values, config.unknown_column) if config.unknown_column in mentions else tuple(values)


def assemble_heatmap(
    dimension: str,
    themes: Sequence[Theme],
    tallies: Mapping[tuple[str, str], CellTally],
    items: int,
    config: HeatmapConfig | None = None,
) -> Heatmap:
    """The heatmap from the tally of each non-empty (theme, column) cell and the number of distinct
    ``items`` they count: rows and columns are ordered as in ``build_heatmap`` (``order_columns``), the
    overall negative share is that of all the mentions, each cell is computed by ``_cell``."""
    config = config or HeatmapConfig()
    tallies = {key: tally for key, tally in tallies.items() if tally.mentions}
    mentions = sum(t.mentions for t in tallies.values())
    overall = sum(t.negatives for t in tallies.values()) / mentions if mentions else 0.0

    rows = _rows(themes, {theme for theme, _ in tallies})
    per_column: dict[str, int] = {}
    for (_, column), counted in tallies.items():
        per_column[column] = per_column.get(column, 0) + counted.mentions
    columns = order_columns(dimension, per_column, config)
    cells = [
        _cell(theme.id, column, tally, overall, config)
        for theme in rows
        for column in columns
        if (tally := tallies.get((theme.id, column))) is not None
    ]
    return Heatmap(
        dimension,
        tuple(rows),
        columns,
        tuple(cells),
        items,
        mentions,
        overall,
        config.prior_items,
        config.min_mentions,
        config.confidence,
    )


def _cell(theme: str, column: str, tally: CellTally, overall: float, config: HeatmapConfig) -> Cell:
    mentions, negatives = tally.mentions, tally.negatives
    shrunk = (negatives + config.prior_items * overall) / (mentions + config.prior_items)
    low, high = wilson_interval(negatives, mentions, config.confidence)
    return Cell(
        theme=theme,
        column=column,
        mentions=mentions,
        items=tally.items,
        negatives=negatives,
        negative_share=negatives / mentions,
        negative_share_low=low,
        negative_share_high=high,
        mean_score=tally.score_sum / mentions,
        priority=mentions * shrunk,
        sparse=mentions < config.min_mentions,
        examples=tally.examples[: config.examples_per_cell],
    )


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_trend(
    results: Iterable[Result], themes: Sequence[Theme], config: HeatmapConfig | None = None, theme: str | None = None
) -> Trend:
    """Negative share of each theme's mentions per ISO week, counted as in the heatmap (only
    ``theme``'s, when given); items without a date are left out. Themes in the order given, then
    ``unassigned`` and themes not listed."""
    return HeatmapAccumulator((), config, theme).update(results).trend(themes)


def assemble_trend(
    themes: Sequence[Theme],
    counts: Mapping[tuple[str, str], tuple[int, int, int]],
    config: HeatmapConfig | None = None,
) -> Trend:
    """The trend from (mentions, items, negatives) per (theme, ISO week): themes in the order given,
    then ``unassigned`` and themes not listed; a theme appears only in the weeks it has mentions."""
    config = config or HeatmapConfig()
    counts = {key: value for key, value in counts.items() if value[0]}
    weeks = tuple(sorted({week for _, week in counts}))
    rows = _rows(themes, {theme for theme, _ in counts})
    series: dict[str, tuple[TrendPoint, ...]] = {}
    for row in rows:
        points = []
        for week in weeks:
            if (row.id, week) in counts:
                mentions, items, negatives = counts[(row.id, week)]
                low, high = wilson_interval(negatives, mentions, config.confidence)
                points.append(TrendPoint(week, mentions, items, negatives, negatives / mentions, low, high))
        if points:
            series[row.id] = tuple(points)
    return Trend(weeks, series, {t.id: t.label for t in rows}, config.min_mentions, config.confidence)


def example_text(text: str, config: HeatmapConfig) -> str:
    """A cell's quote of ``text``: whitespace folded, cut to ``config.example_chars`` (empty for a blank
    text, which is never quoted). For tallies kept outside this module (the service's stored
    aggregates) to quote alike."""
    return _shorten(text, config.example_chars)
