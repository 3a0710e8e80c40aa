"""The demand heatmap (需求热力图) and the weekly trend: pure aggregation over results.

Rows are themes, columns the values of one segment dimension (tier, channel, region, product, week
...). Each item is counted once, in the row of its top theme (the first of ``Result.themes``, the
heaviest), so the cell counts add up to the items analysed; items without a theme go to the row
``unassigned`` and items without the dimension to the column "未知".

``priority`` = count × (negatives + m × p) / (count + m): the number of unhappy customers the cell
stands for, with its negative share shrunk toward the overall share p by m pseudo-items
(HeatmapConfig.prior_items), so that 2 angry answers out of 2 do not outrank 120 out of 200.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
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
    return result.themes[0] if result.themes else UNASSIGNED.id


def _is_negative(result: Result) -> bool:
    return result.sentiment.label == "negative"


def build_heatmap(
    results: Sequence[Result], themes: Sequence[Theme], dimension: str, config: HeatmapConfig | None = None
) -> Heatmap:
    """The heatmap of ``results`` over ``dimension``; rows in the order of ``themes`` (themes without
    items are kept, so ids stay visible), then ``unassigned`` when some item has no theme."""
    config = config or HeatmapConfig()
    groups: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for result in results:
        groups[(top_theme(result), column_of(result, dimension, config.unknown_column))].append(result)
    negatives = sum(1 for r in results if _is_negative(r))
    overall = negatives / len(results) if results else 0.0

    rows = list(themes)
    known = {t.id for t in rows}
    used = {theme for theme, _ in groups}
    if UNASSIGNED.id in used and UNASSIGNED.id not in known:
        rows.append(UNASSIGNED)
    missing = used - known - {UNASSIGNED.id}
    rows.extend(Theme(id=m, label=m, keywords=()) for m in sorted(missing))

    columns = sorted({column for _, column in groups}, key=lambda c: (c == config.unknown_column, c))
    cells: list[Cell] = []
    for theme in rows:
        for column in columns:
            members = groups.get((theme.id, column))
            if members:
                cells.append(_cell(theme.id, column, members, overall, config))
    return Heatmap(dimension, tuple(rows), tuple(columns), tuple(cells), len(results), overall, config.prior_items)


def _cell(theme: str, column: str, members: list[Result], overall: float, config: HeatmapConfig) -> Cell:
    count = len(members)
    negatives = sum(1 for r in members if _is_negative(r))
    shrunk = (negatives + config.prior_items * overall) / (count + config.prior_items)
    ordered = sorted(members, key=lambda r: (-r.sentiment.negative_probability, r.id))
    examples = tuple(
        _shorten(r.text, config.example_chars) for r in ordered[: config.examples_per_cell] if r.text.strip()
    )
    return Cell(
        theme=theme,
        column=column,
        count=count,
        negative_share=negatives / count,
        mean_score=sum(r.sentiment.score for r in members) / count,
        priority=count * shrunk,
        examples=examples,
    )


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_trend(results: Sequence[Result], themes: Sequence[Theme]) -> Trend:
    """Negative share per ISO week of each theme (top theme, as in the heatmap); items without a
    date are left out. Themes in the order given, then ``unassigned``."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for result in results:
        week = iso_week(result.meta.get("date"))
        if week is None:
            continue
        tally = counts[(top_theme(result), week)]
        tally[0] += 1
        tally[1] += _is_negative(result)
    weeks = tuple(sorted({week for _, week in counts}))
    order = [t.id for t in themes] + [UNASSIGNED.id]
    labels = {t.id: t.label for t in themes} | {UNASSIGNED.id: UNASSIGNED.label}
    series: dict[str, tuple[TrendPoint, ...]] = {}
    for theme in order:
        points = tuple(
            TrendPoint(week, counts[(theme, week)][0], counts[(theme, week)][1] / counts[(theme, week)][0])
            for week in weeks
            if (theme, week) in counts
        )
        if points:
            series[theme] = points
    return Trend(weeks, series, labels)
