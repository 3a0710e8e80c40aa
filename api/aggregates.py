"""Maintained heatmap and trend aggregates: each batch's items are tallied into `heatmap_cells` and
`heatmap_examples` once, in the transaction that marks the batch done, so that GET /v1/heatmap and
/v1/trend (api.heatmap_db) sum a few rows per cell instead of parsing every stored result.

What is tallied is what nlp.heatmap counts: aspect mentions (nlp.heatmap.mentions_of), each in its
theme's row with its own polarity. A row holds the mentions of one (dimension, value, theme) in one
period — a day, an ISO week or all time (`span`) — with the distinct items they come from. A date range
is read as the whole weeks inside it plus the days at either end, no range as the all-time rows, so a
request sums a few rows per cell however long the history; an item belongs to one day, so the items of
a row's periods add up too. The theme is what the theme filter and the heatmap's rows go by, the value
its column. Every mention is in dimension TOTAL once per span and in every known dimension once per
span (value NULL when its item has none: the unknown column); a key first met in a later batch gets the
earlier mentions as unknown, copied from the TOTAL rows. The week heatmap and the trend are read from
the TOTAL rows by their week. `heatmap_batch_days` counts each batch's items per day: the heatmap's
`items`. Quotes are kept per row (the few most negative mentions' units, distinct texts); a cell's are
the best of its rows', ranked in Python as in nlp.heatmap (item ids compare by code point there, not
by a database's collation).

The cell arithmetic stays in nlp.heatmap (assemble_heatmap / assemble_trend over CellTally values), so
the answers are those of build_heatmap / build_trend over the stored results — but for a cell's score
sum being added in another order (last-bit differences of a float sum, under the 4-decimal rounding).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, insert, literal, null, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import bindparam

from api.dashboard.tallies import DayTally
from api.db import serialize
from api.store import batch_results, column_text, item_day
from api.tables import Batch, HeatmapBatchDay, HeatmapCell, HeatmapDimension, HeatmapExample
from nlp.config import HeatmapConfig
from nlp.heatmap import (
    UNASSIGNED,
    WEEK,
    Mention,
    Quote,
    best_quotes,
    column_of,
    example_text,
    iso_week,
    mentions_by_theme,
    offer_quote,
)
from nlp.schema import Result

Bind = Session | Connection

# The dimension every item is counted in (not a valid dimension name, so no metadata key is it).
TOTAL = "*"
# Names a heatmap can be asked for (the route's pattern): other metadata keys are not tallied.
DIMENSION_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DIMENSION_CHARS = 32
# A key with more distinct values than this (an order number, free text) is not a segment: it is not
# tallied (its rows would grow with the items) and a heatmap of it is read from the items, as before.
WIDE_VALUES = 1000
# The aggregates keep examples as this configuration quotes them (the service's heatmap uses it).
CONFIG = HeatmapConfig()
# Adding a batch reads the rows it merges into, then writes them (PostgreSQL runs writers side by side).
HEATMAP_LOCK = "heatmap"
# Stored results read back at a time while a batch is tallied.
READ_CHUNK = 1000

# Core statements on the tables (executemany with a bound id), so they run on a Session or a Connection.
CELLS = cast(Table, HeatmapCell.__table__)
EXAMPLES = cast(Table, HeatmapExample.__table__)

# The periods a row covers: one day (or the undated items), one ISO week (dated items), all time.
DAY, WEEK_SPAN, ALL = "day", "week", "all"

Key = tuple[str, str | None, str | None, str, str | None]  # dimension, value, theme, span, day or week
_NAME = re.compile(DIMENSION_NAME)


def stored_text(text: str) -> str:
    """``text`` as a Text column holds it on every database (PostgreSQL text holds no NUL, which a JSON
    "\\u0000" escape brings in; the result keeps it)."""
    return text.replace("\x00", "")


def theme_column(theme: str) -> str | None:
    """A mention's theme as the rows store it: NULL for unassigned, else at most 64 characters."""
    return None if theme == UNASSIGNED.id else column_text(theme, 64)


def best_examples(quotes: Iterable[Quote]) -> list[Quote]:
    """The few best-ranked quotes of distinct texts (HeatmapConfig.examples_per_cell), in rank order."""
    return best_quotes(quotes, CONFIG.examples_per_cell)


# A batch's items share a few dozen days: their weeks are worked out once.
_week_of = lru_cache(maxsize=4096)(iso_week)


@lru_cache(maxsize=1024)
def is_dimension(key: str) -> bool:
    """Whether a metadata key is tallied as a heatmap column (`week` comes from the date instead)."""
    return key != WEEK and len(key) <= DIMENSION_CHARS and _NAME.match(key) is not None


class _Tally:
    """One row's counts and its best quotes (sorted, distinct texts, at most CONFIG.examples_per_cell),
    each ranked ((-negative probability, item id, items.id, unit), text) as nlp.heatmap ranks them."""

    __slots__ = ("examples", "items", "mentions", "negatives", "score_sum")

    def __init__(self) -> None:
        self.mentions = 0
        self.items = 0
        self.negatives = 0
        self.score_sum = 0.0
        self.examples: list[Quote] = []

    def add(self, group: Sequence[Mention], item_id: str, pk: int) -> None:
        """One item's mentions of this row's theme."""
        self.items += 1
        limit = CONFIG.examples_per_cell
        for mention in group:
            self.mentions += 1
            self.negatives += mention.negative
            self.score_sum += mention.score
            rank = (-mention.negative_probability, item_id, pk, mention.unit)
            if limit > 0 and (len(self.examples) < limit or rank < self.examples[-1][0]):
                text = stored_text(example_text(mention.text, CONFIG))
                if text:
                    offer_quote(self.examples, (rank, text), limit)

    def merge(self, other: _Tally) -> None:
        self.mentions += other.mentions
        self.items += other.items
        self.negatives += other.negatives
        self.score_sum += other.score_sum
        self.examples = best_examples([*self.examples, *other.examples])

    def copy(self) -> _Tally:
        twin = _Tally()
        twin.merge(self)
        return twin


class _BatchTally:
    """The rows one batch adds, gathered result by result into day rows (memory bounded by the rows, not
    the items); ``spanned`` then adds the week and all-time rows made from them."""

    def __init__(self, known: dict[str, bool]) -> None:
        self.known = known
        self.dimensions = [name for name, wide in known.items() if not wide]
        self.rows: dict[Key, _Tally] = {}
        self.days: Counter[str | None] = Counter()
        self.values: dict[str, set[str]] = {name: set() for name in self.dimensions}

    def add(self, pk: int, result: Result) -> None:
        for name in result.meta:
            if name not in self.known and name not in self.values and is_dimension(name):
                # First met here: the batch's items so far do not have it.
                for (dimension, _, theme, span, period), row in list(self.rows.items()):
                    if dimension == TOTAL:
                        self.rows[(name, None, theme, span, period)] = row.copy()
                self.dimensions.append(name)
                self.values[name] = set()
        groups = [(theme_column(theme), group) for theme, group in mentions_by_theme(result).items()]
        day = item_day(result)
        self.days[day] += 1
        item_id = stored_text(result.id)
        rows = self.rows
        for dimension in (TOTAL, *self.dimensions):
            value = None
            if dimension != TOTAL:
                value = stored_text(column_of(result, dimension, "")) or None  # "": unknown
                if value is not None:
                    self.values[dimension].add(value)
            for theme, group in groups:
                key = (dimension, value, theme, DAY, day)
                found = rows.get(key)
                if found is None:
                    found = rows[key] = _Tally()
                found.add(group, item_id, pk)

    def drop(self, dimension: str) -> None:
        self.rows = {key: row for key, row in self.rows.items() if key[0] != dimension}
        self.dimensions.remove(dimension)

    def spanned(self) -> dict[Key, _Tally]:
        """The day rows, and the week and all-time rows they add up to."""
        wider: dict[Key, _Tally] = {}
        for (dimension, value, theme, _, day), row in self.rows.items():
            week = _week_of(day)
            for key in [(dimension, value, theme, ALL, None)] + (
                [] if week is None else [(dimension, value, theme, WEEK_SPAN, week)]
            ):
                if key in wider:
                    wider[key].merge(row)
                else:
                    wider[key] = row.copy()
        return {**self.rows, **wider}


def add_batch(bind: Bind, batch_id: int, figures: bool = True) -> int:
    """Add the items of a completed batch to the aggregates, in the caller's transaction; the number of
    items added, 0 when the batch was added before (so a retried finish does not count it twice).
    `figures`: also the dashboard's day figures (api.dashboard.tallies)."""
    return add_results(bind, batch_id, batch_results(bind, batch_id, READ_CHUNK), figures)


def add_results(bind: Bind, batch_id: int, stored: Iterable[tuple[int, Result]], figures: bool = True) -> int:
    """``add_batch`` with the batch's stored results given as (items.id, result) in items.id order,
    instead of read back (for a caller that has just stored them, e.g. a bulk load)."""
    serialize(bind, HEATMAP_LOCK)
    if bind.execute(select(HeatmapBatchDay.id).where(HeatmapBatchDay.batch_id == batch_id).limit(1)).first():
        return 0
    known = {name: wide for name, wide in bind.execute(select(HeatmapDimension.name, HeatmapDimension.wide))}
    tally = _BatchTally(known)
    days = DayTally()
    for pk, result in stored:
        tally.add(pk, result)
        if figures:
            days.add(result)
    if not tally.days:
        return 0
    _register(bind, tally)
    rows = tally.spanned()
    _merge_cells(bind, rows)
    _merge_examples(bind, rows)
    bind.execute(insert(HeatmapBatchDay), [{"batch_id": batch_id, "day": d, "items": n} for d, n in tally.days.items()])
    if figures:
        days.write(bind, batch_id)
    return sum(tally.days.values())


def _register(bind: Bind, tally: _BatchTally) -> None:
    """Record the batch's new dimensions (earlier items: unknown); stop tallying ones grown too wide."""
    for dimension in list(tally.dimensions):
        new = dimension not in tally.known
        values = set(tally.values[dimension])
        if not new:
            stored = (
                select(HeatmapCell.value)
                .where(HeatmapCell.dimension == dimension, HeatmapCell.value.is_not(None))
                .distinct()
            )
            values.update(v for v in bind.execute(stored).scalars() if v is not None)
        wide = len(values) > WIDE_VALUES
        if new:
            bind.execute(insert(HeatmapDimension).values(name=dimension, wide=wide))
        if wide:
            tally.drop(dimension)
            if not new:
                bind.execute(update(HeatmapDimension).where(HeatmapDimension.name == dimension).values(wide=True))
                bind.execute(delete(HeatmapCell).where(HeatmapCell.dimension == dimension))
                bind.execute(delete(HeatmapExample).where(HeatmapExample.dimension == dimension))
        elif new:
            for table in (CELLS, EXAMPLES):
                columns = [c.name for c in table.columns if c.name != "id"]
                copied = [
                    literal(dimension, table.c.dimension.type)
                    if name == "dimension"
                    else null()
                    if name == "value"
                    else table.c[name]
                    for name in columns
                ]
                earlier = select(*copied).where(table.c.dimension == TOTAL)
                bind.execute(insert(table).from_select(columns, earlier))


def _on_rows(table: Table, rows: Iterable[Key]) -> list[ColumnElement[bool]]:
    """Conditions that select the stored rows of these keys (and a few others of the same periods)."""
    keys = list(rows)
    days = {key[4] for key in keys if key[3] == DAY}
    weeks = sorted({key[4] for key in keys if key[3] == WEEK_SPAN and key[4] is not None})
    dated = sorted(d for d in days if d is not None)
    periods: list[ColumnElement[bool]] = [table.c.span == ALL]
    if dated:
        periods.append(and_(table.c.span == DAY, table.c.day.in_(dated)))
    if None in days:
        periods.append(and_(table.c.span == DAY, table.c.day.is_(None)))
    if weeks:
        periods.append(and_(table.c.span == WEEK_SPAN, table.c.week.in_(weeks)))
    return [table.c.dimension.in_(sorted({key[0] for key in keys})), or_(*periods)]


def _key(row: Any) -> Key:
    # Rows selected as (id, dimension, value, theme, span, day, week, ...): by position, it is faster.
    return (row[1], row[2], row[3], row[4], row[5] if row[4] == DAY else row[6])


def _period_columns(span: str, period: str | None) -> dict[str, Any]:
    day = period if span == DAY else None
    return {"span": span, "day": day, "week": _week_of(day) if span == DAY else period}


def _merge_cells(bind: Bind, rows: dict[Key, _Tally]) -> None:
    """Add the batch's counts to the stored rows of the same key (new keys: new rows)."""
    query = select(
        CELLS.c.id,
        CELLS.c.dimension,
        CELLS.c.value,
        CELLS.c.theme,
        CELLS.c.span,
        CELLS.c.day,
        CELLS.c.week,
        CELLS.c.mentions,
        CELLS.c["items"],
        CELLS.c.negatives,
        CELLS.c.score_sum,
    ).where(*_on_rows(CELLS, rows))
    existing = {_key(r): r for r in bind.execute(query).all()}
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for key, tally in rows.items():
        found = existing.get(key)
        if found is not None:
            updates.append(
                {
                    "row_id": found[0],
                    "new_mentions": found[7] + tally.mentions,
                    "new_items": found[8] + tally.items,
                    "new_negatives": found[9] + tally.negatives,
                    "new_score_sum": found[10] + tally.score_sum,
                }
            )
        else:
            dimension, value, theme, span, period = key
            inserts.append(
                {
                    "dimension": dimension,
                    "value": value,
                    "theme": theme,
                    **_period_columns(span, period),
                    "mentions": tally.mentions,
                    "items": tally.items,
                    "negatives": tally.negatives,
                    "score_sum": tally.score_sum,
                }
            )
    if updates:
        statement = (
            update(CELLS)
            .where(CELLS.c.id == bindparam("row_id"))
            .values(
                {
                    CELLS.c.mentions: bindparam("new_mentions"),
                    CELLS.c["items"]: bindparam("new_items"),
                    CELLS.c.negatives: bindparam("new_negatives"),
                    CELLS.c.score_sum: bindparam("new_score_sum"),
                }
            )
        )
        bind.execute(statement, updates)
    if inserts:
        bind.execute(insert(CELLS), inserts)


def stored_quote(negative_probability: float, item_id: str, item_pk: int, unit: int, text: str) -> Quote:
    """A heatmap_examples row's quote, ranked as nlp.heatmap ranks it."""
    return ((-negative_probability, item_id, item_pk, unit), text)


def _merge_examples(bind: Bind, rows: dict[Key, _Tally]) -> None:
    """Keep, per key, the best quotes of the stored ones and the batch's: drop the others."""
    wanted = {key: tally for key, tally in rows.items() if tally.examples}
    if not wanted:
        return
    query = select(
        EXAMPLES.c.id,
        EXAMPLES.c.dimension,
        EXAMPLES.c.value,
        EXAMPLES.c.theme,
        EXAMPLES.c.span,
        EXAMPLES.c.day,
        EXAMPLES.c.week,
        EXAMPLES.c.negative_probability,
        EXAMPLES.c.item_id,
        EXAMPLES.c.item_pk,
        EXAMPLES.c.unit,
        EXAMPLES.c.text,
    ).where(*_on_rows(EXAMPLES, wanted))
    stored: dict[Key, list[tuple[Quote, int]]] = defaultdict(list)
    for r in bind.execute(query).all():
        stored[_key(r)].append((stored_quote(r[7], r[8], r[9], r[10], r[11]), r[0]))
    dropped: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for key, tally in wanted.items():
        held = stored.get(key, [])
        # Ranks are unique (items.id and the unit are), so a batch's quote never equals a stored one.
        kept = set(best_examples([*(quote for quote, _ in held), *tally.examples]))
        dropped += [{"row_id": row_id} for quote, row_id in held if quote not in kept]
        dimension, value, theme, span, period = key
        inserts += [
            {
                "dimension": dimension,
                "value": value,
                "theme": theme,
                **_period_columns(span, period),
                "negative_probability": -rank[0],
                "item_id": rank[1],
                "item_pk": rank[2],
                "unit": rank[3],
                "text": text,
            }
            for rank, text in tally.examples
            if (rank, text) in kept
        ]
    if dropped:
        bind.execute(delete(EXAMPLES).where(EXAMPLES.c.id == bindparam("row_id")), dropped)
    if inserts:
        bind.execute(insert(EXAMPLES), inserts)


def rebuild(bind: Bind) -> int:
    """Empty the heatmap aggregates and add every completed batch again, oldest first; the items added.
    The dashboard's day figures are left as they are (migration 0005 calls this before their table
    exists; they do not depend on how the heatmap counts)."""
    serialize(bind, HEATMAP_LOCK)
    for table in (HeatmapBatchDay, HeatmapCell, HeatmapExample, HeatmapDimension):
        bind.execute(delete(table))
    done = bind.execute(select(Batch.id).where(Batch.status == "done").order_by(Batch.id)).scalars().all()
    return sum(add_batch(bind, batch_id, figures=False) for batch_id in done)
