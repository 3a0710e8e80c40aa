"""The heatmap and trend read from the aggregates (api.aggregates): a few rows per cell summed in SQL,
the examples ranked in Python, the cells computed by nlp.heatmap. GET /v1/heatmap and /v1/trend."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.orm import Session

from api.aggregates import ALL, CELLS, CONFIG, DAY, EXAMPLES, TOTAL, WEEK_SPAN, best_examples
from api.store import stored_results, stored_themes
from api.tables import HeatmapBatchDay, HeatmapDimension
from nlp.heatmap import (
    UNASSIGNED,
    WEEK,
    CellTally,
    Heatmap,
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


def contributing_batches(
    session: Session, date_from: str | None = None, date_to: str | None = None, theme: str | None = None
) -> set[int]:
    """The completed batches with items in the range and theme."""
    query = select(HeatmapBatchDay.batch_id).distinct()
    if date_from:
        query = query.where(HeatmapBatchDay.day >= date_from)
    if date_to:
        query = query.where(HeatmapBatchDay.day <= date_to)
    if theme:
        query = query.where(HeatmapBatchDay.theme == theme)
    return set(session.execute(query).scalars())


def _themes(session: Session, date_from: str | None, date_to: str | None, theme: str | None) -> list[Theme]:
    return stored_themes(session, lambda: contributing_batches(session, date_from, date_to, theme))


def heatmap(
    session: Session,
    dimension: str,
    date_from: str | None = None,
    date_to: str | None = None,
    theme: str | None = None,
) -> Heatmap:
    """The heatmap of every completed batch over `dimension` (filtered by day range and top theme), as
    build_heatmap computes it over the stored results."""
    if dimension == TOTAL:
        raise ValueError(f"{TOTAL!r} is not a dimension")
    source = TOTAL  # the week, and a dimension no item has (every item in the unknown column)
    if dimension != WEEK:
        wide = session.execute(select(HeatmapDimension.wide).where(HeatmapDimension.name == dimension)).scalar()
        if wide:
            return build_heatmap(*stored_results(session, date_from, date_to, theme), dimension, CONFIG)
        if wide is not None:
            source = dimension
    counts: dict[tuple[str, str], list[Any]] = {}
    group = CELLS.c.week if dimension == WEEK else CELLS.c.value
    kept = EXAMPLES.c.week if dimension == WEEK else EXAMPLES.c.value
    for cells, examples in zip(
        _parts(CELLS, dimension, date_from, date_to), _parts(EXAMPLES, dimension, date_from, date_to), strict=True
    ):
        sums = (
            select(
                CELLS.c.theme,
                group,
                func.sum(CELLS.c["items"]),
                func.sum(CELLS.c.negatives),
                func.sum(CELLS.c.score_sum),
            )
            .where(CELLS.c.dimension == source, cells, *_theme(CELLS, theme))
            .group_by(CELLS.c.theme, group)
        )
        for row_theme, column, items, negatives, score_sum in session.execute(sums):
            tally = counts.setdefault(_cell_key(row_theme, column), [0, 0, 0.0, []])
            tally[0] += int(items)
            tally[1] += int(negatives)
            tally[2] += float(score_sum)
        best = select(
            EXAMPLES.c.theme,
            kept,
            EXAMPLES.c.negative_probability,
            EXAMPLES.c.item_id,
            EXAMPLES.c.item_pk,
            EXAMPLES.c.text,
        ).where(EXAMPLES.c.dimension == source, examples, *_theme(EXAMPLES, theme))
        for row_theme, column, probability, item_id, item_pk, text in session.execute(best):
            counts[_cell_key(row_theme, column)][3].append((-probability, item_id, item_pk, text))
    # A blank text keeps its place among the most negative but shows nothing, as in nlp.heatmap.
    tallies = {
        key: CellTally(items, negatives, score_sum, tuple(e[3] for e in best_examples(ranked) if e[3]))
        for key, (items, negatives, score_sum, ranked) in counts.items()
    }
    items = sum(t.count for t in tallies.values())
    negatives = sum(t.negatives for t in tallies.values())
    return assemble_heatmap(dimension, _themes(session, date_from, date_to, theme), tallies, items, negatives, CONFIG)


def _theme(table: Table, theme: str | None) -> list[ColumnElement[bool]]:
    # As on items: the filter never matches an item without a theme (NULL).
    return [table.c.theme == theme] if theme else []


def _cell_key(theme: str | None, column: str | None) -> tuple[str, str]:
    return (theme or UNASSIGNED.id, column or CONFIG.unknown_column)


def trend(
    session: Session, date_from: str | None = None, date_to: str | None = None, theme: str | None = None
) -> Trend:
    """Negative share per ISO week of each theme over every completed batch, as build_trend computes it."""
    parts = _dated(CELLS, date_from, date_to) if date_from or date_to else [CELLS.c.span == WEEK_SPAN]
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for part in parts:
        query = (
            select(CELLS.c.theme, CELLS.c.week, func.sum(CELLS.c["items"]), func.sum(CELLS.c.negatives))
            .where(CELLS.c.dimension == TOTAL, part, CELLS.c.week.is_not(None), *_theme(CELLS, theme))
            .group_by(CELLS.c.theme, CELLS.c.week)
        )
        for row_theme, week, items, negatives in session.execute(query):
            key = (row_theme or UNASSIGNED.id, week)
            before = counts.get(key, (0, 0))
            counts[key] = (before[0] + int(items), before[1] + int(negatives))
    return assemble_trend(_themes(session, date_from, date_to, theme), counts)
