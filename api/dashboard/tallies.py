"""The dashboard's maintained figures: per completed batch, day and segment, how many items, how many
read negative, their NPS split and CSAT — what 总览 and 趋势's NPS heatmap show, summed over a few
hundred rows instead of read from every stored result.

A batch's rows are written once, in the transaction that adds it to the heatmap aggregates
(api.aggregates.add_results calls `DayTally.add` for each result and `write` at the end), so they hold
exactly the batches the heatmap holds. A row is one (batch, day, dimension, value): dimension TOTAL
with value NULL counts every item of the day once; each segment dimension (SEGMENTS) counts the items
that have a value of it, under that value. An item is in at most one value of a dimension, so the
items without one are TOTAL minus the values' sum. Dimension THEME counts each item once under each
demand the heatmap counts it in (nlp.heatmap.mentions_by_theme): the NPS of a demand's answers. NPS
is counted as the NPS drop alert rule counts it (nlp.alerts.tally.nps_score: 0–10, 9–10 promoters,
7–8 passives, 0–6 detractors).

A segment dimension the heatmap aggregates stop tallying because it grew too wide (api.aggregates
WIDE_VALUES: an order number, free text) is not a segment here either: its rows are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import cast

from sqlalchemy import ColumnElement, Connection, Table, delete, func, insert, select
from sqlalchemy.orm import Session

from api.store import batch_results, item_day
from api.tables import DashboardDay, HeatmapBatchDay, HeatmapDimension
from nlp.alerts.tally import nps_score
from nlp.heatmap import column_of, iso_week, mentions_by_theme
from nlp.schema import Result

Bind = Session | Connection
DAYS = cast(Table, DashboardDay.__table__)
# Every item, once (not a metadata key: no segment is called that).
TOTAL = "*"
# The segment dimensions the dashboard filters and splits by (the alert rules' segments).
SEGMENTS = ("tier", "channel", "region", "product")
# The demands an item mentions, as the heatmap's rows (an item is in each of its themes once): the NPS
# of each demand's answers. Not a segment: an item is in several, so they do not add up to TOTAL.
THEME = "theme"
# NPS: 9-10 promoters, 7-8 passives, 0-6 detractors (the standard split, as nlp.alerts counts it).
PROMOTER_MIN, PASSIVE_MIN = 9.0, 7.0
# Stored results read back at a time when the rows of batches stored before them are added.
READ_CHUNK = 1000

_Key = tuple[str | None, str, str | None]  # day, dimension, value


def csat_of(result: Result) -> float | None:
    """The item's CSAT answer (a finite number; 1–5 in the surveys), or None when it has none."""
    raw = result.meta.get("csat")
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class DayTally:
    """The rows one batch adds, gathered result by result (memory bounded by days × segment values)."""

    def __init__(self) -> None:
        self.rows: dict[_Key, list[float]] = {}

    def add(self, result: Result) -> None:
        day = item_day(result)
        negative = result.sentiment.label == "negative"
        score = nps_score(result)
        csat = csat_of(result)
        keys: list[_Key] = [(day, TOTAL, None)]
        for dimension in SEGMENTS:
            value = column_of(result, dimension, "").replace("\x00", "")
            if value:
                keys.append((day, dimension, value))
        keys += [(day, THEME, theme) for theme in mentions_by_theme(result)]
        for key in keys:
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = [0, 0, 0, 0, 0, 0.0, 0]
            row[0] += 1
            row[1] += negative
            if score is not None:
                row[2 if score >= PROMOTER_MIN else 3 if score >= PASSIVE_MIN else 4] += 1
            if csat is not None:
                row[5] += csat
                row[6] += 1

    def update(self, results: Iterable[Result]) -> DayTally:
        for result in results:
            self.add(result)
        return self

    def write(self, bind: Bind, batch_id: int) -> int:
        """Insert the batch's rows (after the heatmap aggregates registered its dimensions); how many."""
        wide = set(bind.execute(select(HeatmapDimension.name).where(HeatmapDimension.wide)).scalars())
        dropped = wide.intersection(SEGMENTS)
        if dropped:
            bind.execute(delete(DashboardDay).where(DashboardDay.dimension.in_(sorted(dropped))))
        rows = [
            {
                "batch_id": batch_id,
                "day": day,
                "week": iso_week(day),
                "dimension": dimension,
                "value": value,
                "items": int(r[0]),
                "negatives": int(r[1]),
                "promoters": int(r[2]),
                "passives": int(r[3]),
                "detractors": int(r[4]),
                "csat_sum": float(r[5]),
                "csat_count": int(r[6]),
            }
            for (day, dimension, value), r in self.rows.items()
            if dimension not in dropped
        ]
        if rows:
            bind.execute(insert(DAYS), rows)
        return len(rows)


def backfill(bind: Bind) -> int:
    """Add the rows of every batch the heatmap aggregates hold and these do not (a database from before
    this table); the batches added."""
    held = set(bind.execute(select(DashboardDay.batch_id).distinct()).scalars())
    aggregated = sorted(set(bind.execute(select(HeatmapBatchDay.batch_id).distinct()).scalars()) - held)
    for batch_id in aggregated:
        DayTally().update(r for _, r in batch_results(bind, batch_id, READ_CHUNK)).write(bind, batch_id)
    return len(aggregated)


@dataclass(frozen=True)
class Figures:
    """What the items of a period (and segment) add up to."""

    items: int = 0
    negatives: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_sum: float = 0.0
    csat_count: int = 0

    @property
    def negative_share(self) -> float | None:
        return self.negatives / self.items if self.items else None

    @property
    def nps_answers(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float | None:
        """Net promoter score, −100 … 100 (None without an answer with an NPS)."""
        n = self.nps_answers
        return 100.0 * (self.promoters - self.detractors) / n if n else None

    @property
    def csat(self) -> float | None:
        return self.csat_sum / self.csat_count if self.csat_count else None


_SUMS = (
    func.coalesce(func.sum(DashboardDay.items), 0),
    func.coalesce(func.sum(DashboardDay.negatives), 0),
    func.coalesce(func.sum(DashboardDay.promoters), 0),
    func.coalesce(func.sum(DashboardDay.passives), 0),
    func.coalesce(func.sum(DashboardDay.detractors), 0),
    func.coalesce(func.sum(DashboardDay.csat_sum), 0.0),
    func.coalesce(func.sum(DashboardDay.csat_count), 0),
)


def _where(date_from: str | None, date_to: str | None, segment: tuple[str, str] | None) -> list[ColumnElement[bool]]:
    """The rows of a segment (or of every item) dated in [date_from, date_to] (all, undated too, without
    a range)."""
    conditions: list[ColumnElement[bool]] = (
        [DashboardDay.dimension == TOTAL, DashboardDay.value.is_(None)]
        if segment is None
        else [DashboardDay.dimension == segment[0], DashboardDay.value == segment[1]]
    )
    if date_from:
        conditions.append(DashboardDay.day >= date_from)
    if date_to:
        conditions.append(DashboardDay.day <= date_to)
    return conditions


def figures(
    session: Session, date_from: str | None, date_to: str | None, segment: tuple[str, str] | None = None
) -> Figures:
    """The items of [date_from, date_to] (of `segment`, e.g. ("region", "华东"), when given), summed."""
    row = session.execute(select(*_SUMS).where(*_where(date_from, date_to, segment))).one()
    return Figures(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]), int(row[6]))


def newest_day(session: Session) -> date | None:
    """The newest item date of the completed batches."""
    newest = session.scalar(
        select(func.max(DashboardDay.day)).where(DashboardDay.dimension == TOTAL, DashboardDay.value.is_(None))
    )
    return date.fromisoformat(newest) if newest else None


def segment_values(session: Session) -> dict[str, list[tuple[str, int]]]:
    """Each segment dimension's values with their items, most items first."""
    rows = session.execute(
        select(DashboardDay.dimension, DashboardDay.value, func.sum(DashboardDay.items))
        .where(DashboardDay.dimension.in_(SEGMENTS))
        .group_by(DashboardDay.dimension, DashboardDay.value)
    ).all()
    out: dict[str, list[tuple[str, int]]] = {name: [] for name in SEGMENTS}
    for dimension, value, items in rows:
        if value is not None:
            out[dimension].append((value, int(items)))
    for values in out.values():
        values.sort(key=lambda pair: (-pair[1], pair[0]))
    return out


@dataclass(frozen=True)
class NpsWeek:
    """The answers with an NPS of one value of a dimension (None: the items without one) in one week."""

    value: str | None
    week: str
    promoters: int
    passives: int
    detractors: int


def nps_weeks(session: Session, dimension: str, date_from: str | None, date_to: str | None) -> list[NpsWeek]:
    """The NPS split of each value of `dimension` per ISO week of [date_from, date_to], with the items
    that have no value of a segment dimension (TOTAL minus the values) as value None; only cells with
    answers. THEME: each demand's answers (no value None: an answer may have several demands)."""
    counts: dict[tuple[str | None, str], list[int]] = {}
    for name in (dimension,) if dimension == THEME else (TOTAL, dimension):
        query = (
            select(
                DashboardDay.value,
                DashboardDay.week,
                func.sum(DashboardDay.promoters),
                func.sum(DashboardDay.passives),
                func.sum(DashboardDay.detractors),
            )
            .where(DashboardDay.dimension == name, DashboardDay.week.is_not(None))
            .group_by(DashboardDay.value, DashboardDay.week)
        )
        if date_from:
            query = query.where(DashboardDay.day >= date_from)
        if date_to:
            query = query.where(DashboardDay.day <= date_to)
        for value, week, promoters, passives, detractors in session.execute(query):
            split = (int(promoters), int(passives), int(detractors))
            if dimension != THEME:
                rest = counts.setdefault((None, str(week)), [0, 0, 0])
                # TOTAL adds every answer to the week's rest; each value takes its own answers out of it.
                sign = 1 if name == TOTAL else -1
                for i, n in enumerate(split):
                    rest[i] += sign * n
            if name != TOTAL:
                counts[(value, str(week))] = list(split)
    return [NpsWeek(value, week, *split) for (value, week), split in counts.items() if sum(split) > 0]
