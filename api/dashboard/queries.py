"""What the dashboard reads beyond the API's own answers, each from the same core the API uses and each
with a bounded cost whatever the number of stored items:

- from maintained aggregates: the overview's figures and 趋势's NPS heatmap (api.dashboard.tallies),
  the number of mentions behind a heatmap cell (api.heatmap_db);
- from a bounded sample of stored results, the newest first (`recent_rows`: at most `limit` items of
  the date range, read in index order; the filters are applied to them in Python, a quick text check
  before parsing): a cell's verbatims, a heatmap restricted to one segment, the root-cause paths. Each
  page says the sample is one and how large.

Verbatims and segment heatmaps are computed by nlp.heatmap's own functions (mentions_of,
build_heatmap); the NPS is counted as the NPS drop alert rule counts it (nlp.alerts.tally.nps_score).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from api.aggregates import CONFIG
from api.dashboard import tallies
from api.dashboard.tallies import SEGMENTS, Figures
from api.heatmap_db import contributing_batches
from api.store import stored_themes
from api.tables import Batch, Item
from nlp.alerts.mentions import customer_aspects
from nlp.heatmap import UNASSIGNED, WEEK, Heatmap, build_heatmap, column_of, mentions_of
from nlp.schema import EMOTION_NAMES, Result, result_from_dict
from nlp.themes import Theme

__all__ = ["SEGMENTS"]

# How many of the newest items a sampled view reads (each page names its sample): reading and
# checking one costs about 15 µs, parsing one that matches about 70 µs.
VERBATIM_SAMPLE = 3000
SEGMENT_SAMPLE = 4000
Segment = tuple[str, str]


def theme_labels(session: Session) -> dict[str, str]:
    """Theme id → its Chinese label, for every theme of the completed batches."""
    themes = stored_themes(session, lambda: contributing_batches(session))
    return {UNASSIGNED.id: UNASSIGNED.label, **{t.id: t.label for t in themes}}


def in_segment(result: Result, segment: Segment | None) -> bool:
    return segment is None or column_of(result, segment[0], "") == segment[1]


def week_range(week: str) -> tuple[str, str] | None:
    """'2026-W45' → the ISO dates of its Monday and Sunday; None when it is not an ISO week."""
    try:
        monday = date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
    except ValueError:
        return None
    return monday.isoformat(), (monday + timedelta(days=6)).isoformat()


def recent_rows(session: Session, date_from: str | None, date_to: str | None, limit: int) -> list[tuple[int, str]]:
    """The newest `limit` stored items of the completed batches, as (items.id, the stored JSON text):
    with a date range, those dated in it, newest date first (the database walks the date index from
    the end of the range); without one, the newest stored (it walks the table backwards). Either way it
    reads `limit` rows, whatever the number stored."""
    query = select(Item.id, cast(Item.result, Text))
    # As NOT IN, the batch condition cannot use the batch index, so the database keeps to the order
    # below (an IN list of the done batches is read through the batch index: every item, then sorted).
    pending = list(session.scalars(select(Batch.id).where(Batch.status != "done")))
    if pending:
        query = query.where(Item.batch_id.not_in(pending))
    if date_from or date_to:
        if date_from:
            query = query.where(Item.date >= date_from)
        if date_to:
            query = query.where(Item.date <= date_to)
        query = query.order_by(Item.date.desc(), Item.id.desc())
    else:
        query = query.order_by(Item.id.desc())
    return [(pk, text) for pk, text in session.execute(query.limit(limit))]


def needles(value: str) -> tuple[str, ...]:
    """How `value` can appear in a stored result's JSON text: as json.dumps writes it (non-ASCII as
    \\u escapes, what SQLAlchemy stores) or as itself. A text holding neither cannot have it."""
    return (json.dumps(value)[1:-1], value)


def may_hold(text: str, *values: str | None) -> bool:
    """Whether the stored JSON `text` may hold every one of `values` (a quick superset check: the
    parsed result decides)."""
    return all(value is None or any(n in text for n in needles(value)) for value in values)


def parsed(rows: Iterable[tuple[int, str]], *values: str | None) -> list[tuple[int, Result]]:
    """The rows that may hold `values`, parsed."""
    wanted = [needles(v) for v in values if v is not None]
    return [
        (pk, result_from_dict(json.loads(text)))
        for pk, text in rows
        if all(any(n in text for n in options) for options in wanted)
    ]


_DECODER = json.JSONDecoder()


def stored_parts(text: str, keys: Sequence[str]) -> dict[str, Any]:
    """The top-level `keys` of a stored result's JSON text, each parsed alone (a page that reads
    thousands parses a fraction of each). Result.to_dict writes scalars and strings before them, and a
    string's quotes are escaped, so the first ``"key": `` is the key's; a text not written so (another
    serializer) is parsed whole."""
    out: dict[str, Any] = {}
    for key in keys:
        at = text.find(f'"{key}": ')
        if at < 0:
            continue
        try:
            out[key], _ = _DECODER.raw_decode(text, at + len(key) + 4)
        except json.JSONDecodeError:
            whole: dict[str, Any] = json.loads(text)
            return {k: whole[k] for k in keys if k in whole}
    return out


@dataclass(frozen=True)
class Sampled:
    """What a sampled view read: the newest `read` items of the range (`limit` at most), `used` of them
    in its filters."""

    read: int
    used: int
    limit: int

    @property
    def capped(self) -> bool:
        return self.read >= self.limit


def segment_heatmap(
    session: Session, dimension: str, segment: Segment, date_from: str | None, date_to: str | None
) -> tuple[Heatmap, Sampled]:
    """The heatmap over `dimension` of one segment's items (e.g. region 华东) among the newest
    SEGMENT_SAMPLE of the range, by build_heatmap (what the service uses for wide dimensions)."""
    rows = recent_rows(session, date_from, date_to, SEGMENT_SAMPLE)
    results = [r for _, r in parsed(rows, segment[1]) if in_segment(r, segment)]
    themes = stored_themes(session, lambda: contributing_batches(session, date_from, date_to))
    return build_heatmap(results, themes, dimension, CONFIG), Sampled(len(rows), len(results), SEGMENT_SAMPLE)


@dataclass(frozen=True)
class Verbatim:
    """One mention behind a heatmap cell: the opinion unit as the customer said it, and its source."""

    item_id: str
    item_pk: int
    kind: str
    text: str
    term: str
    opinion: str
    label: str
    negative_probability: float
    emotion: str | None
    item_text: str
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "item_pk": self.item_pk,
            "kind": self.kind,
            "text": self.text,
            "term": self.term,
            "opinion": self.opinion,
            "label": self.label,
            "negative_probability": round(self.negative_probability, 4),
            "emotion": self.emotion,
            "emotion_name": EMOTION_NAMES.get(self.emotion) if self.emotion else None,
            "item_text": self.item_text,
            "meta": self.meta,
        }


def verbatims_of(result: Result, theme: str, pk: int = 0) -> list[Verbatim]:
    """The mentions of `theme` that `result` counts in the heatmap, as verbatims."""
    spoken = customer_aspects(result)
    themed = any(a.theme for a in spoken)
    out = []
    for mention in mentions_of(result):
        if mention.theme != theme:
            continue
        aspect = spoken[mention.unit] if themed else None
        emotion = aspect.emotion if aspect is not None else result.emotion
        out.append(
            Verbatim(
                item_id=result.id,
                item_pk=pk,
                kind=result.kind,
                text=mention.text,
                term=aspect.term if aspect else "",
                opinion=aspect.opinion if aspect else "",
                label="negative" if mention.negative else (aspect.label if aspect else result.sentiment.label),
                negative_probability=mention.negative_probability,
                emotion=emotion.label if emotion is not None else None,
                item_text=result.text,
                meta=dict(result.meta),
            )
        )
    return out


def cell_verbatims(
    results: Iterable[tuple[int, Result]],
    dimension: str,
    column: str,
    theme: str,
    segment: Segment | None = None,
    limit: int = 200,
) -> tuple[int, list[Verbatim]]:
    """The verbatims of the cell (theme, column) of the heatmap over `dimension` among `results`: how
    many, and the `limit` most negative."""
    found: list[Verbatim] = []
    for pk, result in results:
        if in_segment(result, segment) and column_of(result, dimension, CONFIG.unknown_column) == column:
            found.extend(verbatims_of(result, theme, pk))
    found.sort(key=lambda v: (-v.negative_probability, v.item_id, v.item_pk))
    return len(found), found[:limit]


def stored_cell_verbatims(
    session: Session,
    dimension: str,
    column: str,
    theme: str,
    date_from: str | None = None,
    date_to: str | None = None,
    segment: Segment | None = None,
    limit: int = 200,
) -> tuple[int, list[Verbatim], Sampled]:
    """cell_verbatims over the newest VERBATIM_SAMPLE stored items of the range (of the cell's week, for
    the week heatmap): how many mentions they hold, the `limit` most negative, and what was read."""
    start, end = date_from, date_to
    if dimension == WEEK and (week := week_range(column)) is not None:
        start = max(start or week[0], week[0])
        end = min(end or week[1], week[1])
    rows = recent_rows(session, start, end, VERBATIM_SAMPLE)
    wanted = [
        None if theme == UNASSIGNED.id else theme,
        None if dimension == WEEK or column == CONFIG.unknown_column else column,
        segment[1] if segment else None,
    ]
    total, found = cell_verbatims(parsed(rows, *wanted), dimension, column, theme, segment, limit)
    return total, found, Sampled(len(rows), total, VERBATIM_SAMPLE)


@dataclass(frozen=True)
class Period(Figures):
    """The figures of [start, end] (the overview's period), from the maintained tallies."""

    start: str = ""
    end: str = ""

    @classmethod
    def of(cls, session: Session, start: date, end: date, segment: Segment | None) -> Period:
        found = tallies.figures(session, start.isoformat(), end.isoformat(), segment)
        return cls(**asdict(found), start=start.isoformat(), end=end.isoformat())

    @property
    def days(self) -> int:
        return (date.fromisoformat(self.end) - date.fromisoformat(self.start)).days + 1


def latest_day(session: Session) -> date | None:
    """The newest item date of the completed batches (the overview's "this week" ends there)."""
    return tallies.newest_day(session)


def periods(
    session: Session, start: date | None = None, end: date | None = None, segment: Segment | None = None
) -> tuple[Period, Period] | None:
    """The period [start, end] and the one of the same length just before it; without dates, the
    week (Monday–Sunday) holding the newest item date and the week before."""
    if end is None:
        end = (start + timedelta(days=6)) if start else latest_day(session)
        if end is None:
            return None
    if start is None:
        start = end - timedelta(days=end.weekday())
        end = start + timedelta(days=6)
    length = (end - start).days + 1
    before = start - timedelta(days=1)
    return Period.of(session, start, end, segment), Period.of(
        session, before - timedelta(days=length - 1), before, segment
    )


def rising_themes(trend: dict[str, Any], min_mentions: int, limit: int = 5) -> list[dict[str, Any]]:
    """From a trend (GET /v1/trend's body), the themes whose negative share rose most from the second
    last week to the last, each week with at least `min_mentions` mentions."""
    weeks = trend["weeks"]
    if len(weeks) < 2:
        return []
    last, before = weeks[-1], weeks[-2]
    rising = []
    for series in trend["series"]:
        points = {p["week"]: p for p in series["points"]}
        now, then = points.get(last), points.get(before)
        if now is None or then is None or min(now["mentions"], then["mentions"]) < min_mentions:
            continue
        rise = now["negative_share"] - then["negative_share"]
        if rise > 0:
            rising.append({"theme": series["theme"], "label": series["label"], "week": last, "rise": rise,
                           "share": now["negative_share"], "previous": then["negative_share"],
                           "mentions": now["mentions"]})  # fmt: skip
    rising.sort(key=lambda r: -r["rise"])
    return rising[:limit]


def themes_by_id(themes: Sequence[Theme]) -> dict[str, Theme]:
    return {t.id: t for t in themes}
