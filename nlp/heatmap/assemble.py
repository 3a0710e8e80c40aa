"""The cell arithmetic: the heatmap from the tally of each (theme, column) cell (``assemble_heatmap``)
and the trend from the counts of each (theme, week) (``assemble_trend``), however they were gathered:
the negative share with its Wilson interval, the priority, the rows and columns in reading order."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from nlp.config import HeatmapConfig
from nlp.heatmap.mentions import TIER, UNASSIGNED, WEEK, iso_week
from nlp.heatmap.values import Cell, Heatmap, Trend, TrendPoint
from nlp.themes import Theme


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


__all__ = ["CellTally", "assemble_heatmap", "assemble_trend", "order_columns", "wilson_interval"]
