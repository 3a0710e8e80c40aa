"""The heatmap and trend read from the aggregates (api.aggregates): a few rows per cell summed in SQL,
the quotes ranked in Python, the cells computed by nlp.heatmap. GET /v1/heatmap and /v1/trend.

The theme filter keeps that theme's mentions (``unassigned``: the mentions without a theme), as
``build_heatmap(..., theme=...)`` does over every stored result of the range; the themes listed are
those of the batches in the range, with or without the filter."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.orm import Session

from api.aggregates import (
    ALL,
    CELLS,
    CONFIG,
    DAY,
    EXAMPLES,
    TOTAL,
    WEEK_SPAN,
    best_examples,
    stored_quote,
    theme_column,
)
from api.store import stored_results, stored_themes
from api.tables import HeatmapBatchDay, HeatmapDimension
from nlp.heatmap import (
    UNASSIGNED,
    WEEK,
    CellTally,
    Heatmap,
    Quote,
    Trend,
    assemble_heatmap,
    assemble_trend,
    build_heatmap,
    iso_week,
)
from nlp.themes import Theme


def _days(table: Table, first: date, last: date) -> ColumnElement[bool]:
    # The week bounds are implied by the days; they let the index range over (span, week).
    return and_(
        table.c.span == DAY,
        table.c.week >= iso_week(first.isoformat()),
        table.c.week <= iso_week(last.isoformat()),
        table.c.day >= first.isoformat(),
        table.c.day <= last.isoformat(),
    )


def _dated(table: Table, date_from: str | None, date_to: str | None) -> list[ColumnElement[bool]]:
    """Rows holding every dated item of [date_from, date_to] once: the week rows of the whole ISO weeks
    inside it, the day rows of the days before the first and after the last of those weeks. One
    condition per part, each an index range (the query is run per part: SQLite ranges over one)."""
    start = date.fromisoformat(date_from) if date_from else None
    end = date.fromisoformat(date_to) if date_to else None
    monday = start + timedelta(days=-start.weekday() % 7) if start else None  # first whole week's
    sunday = end - timedelta(days=(end.weekday() + 1) % 7) if end else None  # last whole week's
    if start and end and monday and sunday and monday > sunday:
        return [_days(table, start, end)]  # no whole week inside
    weeks = [table.c.span == WEEK_SPAN]
    if monday:
        weeks.append(table.c.week >= iso_week(monday.isoformat()))
    if sunday:
        weeks.append(table.c.week <= iso_week(sunday.isoformat()))
    parts = [and_(*weeks)]
    if start and monday and start < monday:
        parts.append(_days(table, start, monday - timedelta(days=1)))
    if end and sunday and sunday < end:
        parts.append(_days(table, sunday + timedelta(days=1), end))
    return parts


def _parts(table: Table, dimension: str, date_from: str | None, date_to: str | None) -> list[ColumnElement[bool]]:
    """The rows a heatmap of `dimension` sums over (each item in them once), as _dated's parts."""
    if date_from or date_to:
        return _dated(table, date_from, date_to)
    if dimension == WEEK:  # the undated items are its unknown column
        return [table.c.span == WEEK_SPAN, and_(table.c.span == DAY, table.c.week.is_(None), table.c.day.is_(None))]
    return [table.c.span == ALL]


def contributing_batches(session: Session, date_from: str | None = None, date_to: str | None = None) -> set[int]:
    """The completed batches with items in the range."""
    query = select(HeatmapBatchDay.batch_id).distinct()
    if date_from:
        query = query.where(HeatmapBatchDay.day >= date_from)
    if date_to:
        query = query.where(HeatmapBatchDay.day <= date_to)
    return set(session.execute(query).scalars())


def counted_items(session: Session, date_from: str | None = None, date_to: str | None = None) -> int:
    """The items of every completed batch in the range (with a range, the undated ones are left out)."""
    query = select(func.coalesce(func.sum(HeatmapBatchDay.items), 0))
    if date_from:
        query = query.where(HeatmapBatchDay.day >= date_from)
    if date_to:
        query = query.where(HeatmapBatchDay.day <= date_to)
    if date_from or date_to:
        query = query.where(HeatmapBatchDay.day.is_not(None))
    return int(session.execute(query).scalar_one())


def _themes(session: Session, date_from: str | None, date_to: str | None) -> list[Theme]:
    return stored_themes(session, lambda: contributing_batches(session, date_from, date_to))


def heatmap(
    session: Session,
    dimension: str,
    date_from: str | None = None,
    date_to: str | None = None,
    theme: str | None = None,
) -> Heatmap:
    """The heatmap of every completed batch over `dimension` (filtered by day range and theme), as
    build_heatmap computes it over the stored results."""
    if dimension == TOTAL:
        raise ValueError(f"{TOTAL!r} is not a dimension")
    source = TOTAL  # the week, and a dimension no item has (every item in the unknown column)
    if dimension != WEEK:
        wide = session.execute(select(HeatmapDimension.wide).where(HeatmapDimension.name == dimension)).scalar()
        if wide:
            results, themes = stored_results(session, date_from, date_to)
            return build_heatmap(results, themes, dimension, CONFIG, theme)
        if wide is not None:
            source = dimension
    counts: dict[tuple[str, str], list[Any]] = {}
    quotes: dict[tuple[str, str], list[Quote]] = {}
    group = CELLS.c.week if dimension == WEEK else CELLS.c.value
    kept = EXAMPLES.c.week if dimension == WEEK else EXAMPLES.c.value
    for cells, examples in zip(
        _parts(CELLS, dimension, date_from, date_to), _parts(EXAMPLES, dimension, date_from, date_to), strict=True
    ):
        sums = (
            select(
                CELLS.c.theme,
                group,
                func.sum(CELLS.c.mentions),
                func.sum(CELLS.c["items"]),
                func.sum(CELLS.c.negatives),
                func.sum(CELLS.c.score_sum),
            )
            .where(CELLS.c.dimension == source, cells, *_theme(CELLS, theme))
            .group_by(CELLS.c.theme, group)
        )
        for row_theme, column, mentions, items, negatives, score_sum in session.execute(sums):
            tally = counts.setdefault(_cell_key(row_theme, column), [0, 0, 0, 0.0])
            tally[0] += int(mentions)
            tally[1] += int(items)
            tally[2] += int(negatives)
            tally[3] += float(score_sum)
        best = select(
            EXAMPLES.c.theme,
            kept,
            EXAMPLES.c.negative_probability,
            EXAMPLES.c.item_id,
            EXAMPLES.c.item_pk,
            EXAMPLES.c.unit,
            EXAMPLES.c.text,
        ).where(EXAMPLES.c.dimension == source, examples, *_theme(EXAMPLES, theme))
        for row_theme, column, probability, item_id, item_pk, unit, text in session.execute(best):
            quotes.setdefault(_cell_key(row_theme, column), []).append(
                stored_quote(probability, item_id, item_pk, unit, text)
            )
    tallies = {
        key: CellTally(mentions, items, negatives, score_sum, tuple(t for _, t in best_examples(quotes.get(key, []))))
        for key, (mentions, items, negatives, score_sum) in counts.items()
    }
    # Filtered, the items are those with a mention of the theme: each is in one column of its row.
    items = sum(t.items for t in tallies.values()) if theme else counted_items(session, date_from, date_to)
    return assemble_heatmap(dimension, _themes(session, date_from, date_to), tallies, items, CONFIG)


def _theme(table: Table, theme: str | None) -> list[ColumnElement[bool]]:
    if not theme:
        return []
    stored = theme_column(theme)
    return [table.c.theme.is_(None) if stored is None else table.c.theme == stored]


def _cell_key(theme: str | None, column: str | None) -> tuple[str, str]:
    return (theme or UNASSIGNED.id, column or CONFIG.unknown_column)


def trend(
    session: Session, date_from: str | None = None, date_to: str | None = None, theme: str | None = None
) -> Trend:
    """Negative share of each theme's mentions per ISO week over every completed batch (only `theme`'s,
    when given), as build_trend computes it."""
    parts = _dated(CELLS, date_from, date_to) if date_from or date_to else [CELLS.c.span == WEEK_SPAN]
    counts: dict[tuple[str, str], tuple[int, int, int]] = {}
    for part in parts:
        query = (
            select(
                CELLS.c.theme,
                CELLS.c.week,
                func.sum(CELLS.c.mentions),
                func.sum(CELLS.c["items"]),
                func.sum(CELLS.c.negatives),
            )
            .where(CELLS.c.dimension == TOTAL, part, CELLS.c.week.is_not(None), *_theme(CELLS, theme))
            .group_by(CELLS.c.theme, CELLS.c.week)
        )
        for row_theme, week, mentions, items, negatives in session.execute(query):
            key = (row_theme or UNASSIGNED.id, week)
            before = counts.get(key, (0, 0, 0))
            counts[key] = (before[0] + int(mentions), before[1] + int(items), before[2] + int(negatives))
    return assemble_trend(_themes(session, date_from, date_to), counts, CONFIG)
