"""The demand heatmap (需求热力图) and the weekly trend: pure aggregation over results.

Rows are themes, columns the values of one segment dimension (tier, channel, region, product, week
...). Each item is counted once, in the row of its top theme (the first of ``Result.themes``, the
heaviest), so the cell counts add up to the items analysed; items without a theme go to the row
``unassigned`` and items without the dimension to the column "未知".

``priority`` = count × (negatives + m × p) / (count + m): the number of unhappy customers the cell
stands for, with its negative share shrunk toward the overall share p by m pseudo-items
(HeatmapConfig.prior_items), so that 2 angry answers out of 2 do not outrank 120 out of 200.

Everything is computed from a ``CellTally`` per cell (count, negatives, score sum, examples), so a
stream of any length is tallied in bounded memory by ``HeatmapAccumulator``, and stored aggregates
give the same heatmap through ``assemble_heatmap``.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlp.config import HeatmapConfig
from nlp.schema import Result
from nlp.themes import Theme

UNASSIGNED = Theme(id="unassigned", label="未归类", keywords=(), department="", discovered=False)
WEEK = "week"
COUNTING = (
    "each item is counted once, under its top theme (the heaviest of its themes); items without a theme "
    "are in row 'unassigned', items without the dimension in the unknown column"
)
PRIORITY_FORMULA = "count * (negatives + m * p) / (count + m); p = overall negative share, m = prior_items"


@dataclass(frozen=True)
class Cell:
    theme: str
    column: str
    count: int
    negative_share: float
    mean_score: float
    priority: float
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "theme": self.theme,
            "column": self.column,
            "count": self.count,
            "negative_share": round(self.negative_share, 4),
            "mean_score": round(self.mean_score, 4),
            "priority": round(self.priority, 3),
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class Heatmap:
    """Themes × columns of one dimension; ``cells`` holds only the non-empty cells."""

    dimension: str
    themes: tuple[Theme, ...]
    columns: tuple[str, ...]
    cells: tuple[Cell, ...]
    items: int
    negative_share: float
    prior_items: float

    def cell(self, theme: str, column: str) -> Cell | None:
        return next((c for c in self.cells if c.theme == theme and c.column == column), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "items": self.items,
            "counting": COUNTING,
            "priority_formula": PRIORITY_FORMULA,
            "prior_items": self.prior_items,
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
    count: int
    negative_share: float


@dataclass(frozen=True)
class Trend:
    """Negative share of each theme per ISO week (only weeks in which the theme has items)."""

    weeks: tuple[str, ...]
    series: Mapping[str, tuple[TrendPoint, ...]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weeks": list(self.weeks),
            "series": [
                {
                    "theme": theme,
                    "label": self.labels.get(theme, theme),
                    "points": [
                        {"week": p.week, "count": p.count, "negative_share": round(p.negative_share, 4)} for p in points
                    ],
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
    return result.top_theme or UNASSIGNED.id


def _is_negative(result: Result) -> bool:
    return result.sentiment.label == "negative"


@dataclass(frozen=True)
class CellTally:
    """What one cell is computed from, however it was gathered (a stream of results, or aggregates
    stored per cell): its items, how many are negative, the sum of their scores, and its example texts
    (already shortened, most negative first, at most ``HeatmapConfig.examples_per_cell``)."""

    count: int
    negatives: int
    score_sum: float
    examples: tuple[str, ...] = ()


# (-negative_probability, id, arrival): the order examples are chosen in; the arrival number only
# breaks ties between equal (probability, id), in input order, as a stable sort of the list would.
_Rank = tuple[float, str, int]


class _RunningCell:
    """A cell being filled one result at a time: its counts, and its ``limit`` best-ranked items so far
    as a short sorted list of (rank, shortened text) — bounded, whatever the number of items."""

    __slots__ = ("count", "negatives", "score_sum", "top")

    def __init__(self) -> None:
        self.count = 0
        self.negatives = 0
        self.score_sum = 0.0
        self.top: list[tuple[_Rank, str]] = []

    def add(self, result: Result, negative: bool, rank: _Rank, config: HeatmapConfig) -> None:
        self.count += 1
        self.negatives += negative
        self.score_sum += result.sentiment.score
        limit = config.examples_per_cell
        if limit > 0 and (len(self.top) < limit or rank < self.top[-1][0]):
            bisect.insort(self.top, (rank, _shorten(result.text, config.example_chars)))
            del self.top[limit:]

    def tally(self) -> CellTally:
        # Blank texts keep their place among the most negative but show nothing (as before streaming).
        return CellTally(self.count, self.negatives, self.score_sum, tuple(text for _, text in self.top if text))


class HeatmapAccumulator:
    """The heatmaps of some dimensions and the weekly trend, tallied one result at a time.

    Memory grows with the cells (themes × columns of each dimension, themes × weeks), not with the
    results: a cell keeps three numbers and its ``examples_per_cell`` most negative examples. Feed it
    with ``add``/``update``, then read ``heatmap(themes, dimension)`` and ``trend(themes)``; reading
    does not change it, so it may be read, fed more, and read again. ``build_heatmap`` and
    ``build_trend`` are this accumulator fed with a list.
    """

    def __init__(self, dimensions: Sequence[str] = (), config: HeatmapConfig | None = None) -> None:
        self.dimensions = tuple(dict.fromkeys(dimensions))
        self.config = config or HeatmapConfig()
        self.items_ = 0
        self.negatives_ = 0
        self._cells: dict[str, dict[tuple[str, str], _RunningCell]] = {d: {} for d in self.dimensions}
        self._weeks: dict[tuple[str, str], list[int]] = {}

    def add(self, result: Result) -> None:
        """Count one result in every dimension's heatmap and, when it has a date, in the trend."""
        negative = _is_negative(result)
        theme = top_theme(result)
        rank = (-result.sentiment.negative_probability, result.id, self.items_)
        self.items_ += 1
        self.negatives_ += negative
        for dimension, cells in self._cells.items():
            key = (theme, column_of(result, dimension, self.config.unknown_column))
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = _RunningCell()
            cell.add(result, negative, rank, self.config)
        week = iso_week(result.meta.get("date"))
        if week is not None:
            tally = self._weeks.setdefault((theme, week), [0, 0])
            tally[0] += 1
            tally[1] += negative

    def update(self, results: Iterable[Result]) -> HeatmapAccumulator:
        """``add`` each result (a list or a stream); returns the accumulator."""
        for result in results:
            self.add(result)
        return self

    def tallies(self, dimension: str) -> dict[tuple[str, str], CellTally]:
        """The tally of every non-empty (top theme, column) cell of ``dimension``."""
        return {key: cell.tally() for key, cell in self._dimension(dimension).items()}

    def heatmap(self, themes: Sequence[Theme], dimension: str | None = None) -> Heatmap:
        """The heatmap of ``dimension`` (by default the first one asked for) over what was added."""
        if dimension is None:
            if not self.dimensions:
                raise ValueError("this HeatmapAccumulator tallies no dimension: pass dimensions=(...) to it")
            dimension = self.dimensions[0]
        return assemble_heatmap(dimension, themes, self.tallies(dimension), self.items_, self.negatives_, self.config)

    def trend(self, themes: Sequence[Theme]) -> Trend:
        """The weekly trend of what was added (items without a date are left out)."""
        return assemble_trend(themes, {key: (count, negatives) for key, (count, negatives) in self._weeks.items()})

    def _dimension(self, dimension: str) -> dict[tuple[str, str], _RunningCell]:
        if dimension not in self._cells:
            raise ValueError(
                f"dimension {dimension!r} was not tallied; this HeatmapAccumulator tallies "
                f"{list(self.dimensions)} (pass the dimension when creating it)"
            )
        return self._cells[dimension]


def build_heatmap(
    results: Iterable[Result], themes: Sequence[Theme], dimension: str, config: HeatmapConfig | None = None
) -> Heatmap:
    """The heatmap of ``results`` over ``dimension``; rows in the order of ``themes`` (themes without
    items are kept, so ids stay visible), then ``unassigned`` when some item has no theme."""
    return HeatmapAccumulator((dimension,), config).update(results).heatmap(themes, dimension)


def assemble_heatmap(
    dimension: str,
    themes: Sequence[Theme],
    tallies: Mapping[tuple[str, str], CellTally],
    items: int,
    negatives: int,
    config: HeatmapConfig | None = None,
) -> Heatmap:
    """The heatmap from the tally of each non-empty (top theme, column) cell and the overall counts
    (``items`` analysed, ``negatives`` among them): rows and columns are ordered as in
    ``build_heatmap``, each cell is computed by ``_cell``."""
    config = config or HeatmapConfig()
    tallies = {key: tally for key, tally in tallies.items() if tally.count}
    overall = negatives / items if items else 0.0

    rows = list(themes)
    known = {t.id for t in rows}
    used = {theme for theme, _ in tallies}
    if UNASSIGNED.id in used and UNASSIGNED.id not in known:
        rows.append(UNASSIGNED)
    missing = used - known - {UNASSIGNED.id}
    rows.extend(Theme(id=m, label=m, keywords=()) for m in sorted(missing))

    columns = sorted({column for _, column in tallies}, key=lambda c: (c == config.unknown_column, c))
    cells: list[Cell] = []
    for theme in rows:
        for column in columns:
            tally = tallies.get((theme.id, column))
            if tally is not None:
                cells.append(_cell(theme.id, column, tally, overall, config))
    return Heatmap(dimension, tuple(rows), tuple(columns), tuple(cells), items, overall, config.prior_items)


def _cell(theme: str, column: str, tally: CellTally, overall: float, config: HeatmapConfig) -> Cell:
    count, negatives = tally.count, tally.negatives
    shrunk = (negatives + config.prior_items * overall) / (count + config.prior_items)
    return Cell(
        theme=theme,
        column=column,
        count=count,
        negative_share=negatives / count,
        mean_score=tally.score_sum / count,
        priority=count * shrunk,
        examples=tally.examples[: config.examples_per_cell],
    )


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_trend(results: Iterable[Result], themes: Sequence[Theme]) -> Trend:
    """Negative share per ISO week of each theme (top theme, as in the heatmap); items without a
    date are left out. Themes in the order given, then ``unassigned``."""
    return HeatmapAccumulator().update(results).trend(themes)


def assemble_trend(themes: Sequence[Theme], counts: Mapping[tuple[str, str], tuple[int, int]]) -> Trend:
    """The trend from (items, negatives) per (top theme, ISO week): themes in the order given, then
    ``unassigned``; a theme appears only in the weeks in which it has items."""
    weeks = tuple(sorted({week for _, week in counts}))
    order = [t.id for t in themes] + [UNASSIGNED.id]
    labels = {t.id: t.label for t in themes} | {UNASSIGNED.id: UNASSIGNED.label}
    series: dict[str, tuple[TrendPoint, ...]] = {}
    for theme in order:
        points = tuple(
            TrendPoint(week, counts[(theme, week)][0], counts[(theme, week)][1] / counts[(theme, week)][0])
            for week in weeks
            if counts.get((theme, week), (0, 0))[0]
        )
        if points:
            series[theme] = points
    return Trend(weeks, series, labels)


def example_text(text: str, config: HeatmapConfig) -> str:
    """A cell's quote of ``text``: whitespace folded, cut to ``config.example_chars`` (empty for a blank
    text). For tallies kept outside this module (the service's stored aggregates) to quote alike."""
    return _shorten(text, config.example_chars)
