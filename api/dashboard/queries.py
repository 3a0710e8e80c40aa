"""What the dashboard reads beyond the API's own answers: a cell's verbatims, a heatmap restricted to
one segment, the overview's figures. Each is built from the same core the API uses (api.store's
stored results, nlp.heatmap's mentions and columns, nlp.heatmap.build_heatmap), never recomputed here;
the 趋势 view's NPS heatmap counts scores as the NPS drop alert rule does (nlp.alerts.tally.nps_score).

These read stored results (not the aggregates), so they stay bounded: a date range when one is given,
and at most `limit` verbatims per cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.aggregates import CONFIG
from api.heatmap_db import contributing_batches
from api.store import stored_results, stored_themes
from api.tables import Batch, Item
from nlp.alerts.mentions import customer_aspects
from nlp.alerts.tally import nps_score
from nlp.heatmap import UNASSIGNED, Heatmap, build_heatmap, column_of, iso_week, mentions_of
from nlp.schema import EMOTION_NAMES, Result
from nlp.themes import Theme

# The segment dimensions a heatmap can be restricted to, as the alert rules know them.
SEGMENTS = ("tier", "channel", "region", "product")
# NPS: 9-10 promoters, 7-8 passives, 0-6 detractors (the standard definition, as nlp.alerts.model).
PROMOTER_MIN, PASSIVE_MIN = 9, 7


def theme_labels(session: Session) -> dict[str, str]:
    """Theme id → its Chinese label, for every theme of the completed batches."""
    themes = stored_themes(session, lambda: contributing_batches(session))
    return {UNASSIGNED.id: UNASSIGNED.label, **{t.id: t.label for t in themes}}


def _in_segment(result: Result, segment: tuple[str, str] | None) -> bool:
    return segment is None or str(result.meta.get(segment[0], "")).strip() == segment[1]


def segment_heatmap(
    session: Session,
    dimension: str,
    segment: tuple[str, str],
    date_from: str | None = None,
    date_to: str | None = None,
) -> Heatmap:
    """The heatmap of the items of one segment (e.g. region 华东) over `dimension`: build_heatmap over
    those stored results, the function the service itself uses for wide dimensions."""
    results, themes = stored_results(session, date_from, date_to)
    return build_heatmap([r for r in results if _in_segment(r, segment)], themes, dimension, CONFIG)


@dataclass(frozen=True)
class Verbatim:
    """One mention behind a heatmap cell: the opinion unit as the customer said it, and its source."""

    item_id: str
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


def verbatims_of(result: Result, theme: str) -> list[Verbatim]:
    """The mentions of `theme` that `result` counts in the heatmap, as verbatims (most negative first)."""
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
    results: Iterable[Result],
    dimension: str,
    column: str,
    theme: str,
    segment: tuple[str, str] | None = None,
    limit: int = 200,
) -> tuple[int, list[Verbatim]]:
    """The verbatims of the cell (theme, column) of the heatmap over `dimension`: how many, and the
    `limit` most negative."""
    found: list[Verbatim] = []
    for result in results:
        if _in_segment(result, segment) and column_of(result, dimension, CONFIG.unknown_column) == column:
            found.extend(verbatims_of(result, theme))
    found.sort(key=lambda v: (-v.negative_probability, v.item_id))
    return len(found), found[:limit]


def stored_cell_verbatims(
    session: Session,
    dimension: str,
    column: str,
    theme: str,
    date_from: str | None = None,
    date_to: str | None = None,
    segment: tuple[str, str] | None = None,
    limit: int = 200,
) -> tuple[int, list[Verbatim]]:
    """cell_verbatims over the stored results of the date range."""
    results, _ = stored_results(session, date_from, date_to)
    return cell_verbatims(results, dimension, column, theme, segment, limit)


@dataclass(frozen=True)
class Period:
    """One week's figures for the overview."""

    start: str
    end: str
    items: int
    negatives: int
    promoters: int
    passives: int
    detractors: int
    csat_sum: float
    csat_count: int

    @property
    def negative_share(self) -> float | None:
        return self.negatives / self.items if self.items else None

    @property
    def nps_answers(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float | None:
        """Net promoter score, −100 … 100."""
        n = self.nps_answers
        return 100.0 * (self.promoters - self.detractors) / n if n else None

    @property
    def csat(self) -> float | None:
        return self.csat_sum / self.csat_count if self.csat_count else None


def _number(raw: object) -> float | None:
    try:
        return float(raw) if raw is not None and raw != "" else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def period_of(results: Sequence[Result], start: date, end: date) -> Period:
    """Volume, item-level negative share, NPS split and mean CSAT of the results dated in [start, end]."""
    items = negatives = promoters = passives = detractors = csat_count = 0
    csat_sum = 0.0
    for result in results:
        day = str(result.meta.get("date") or "")[:10]
        if not start.isoformat() <= day <= end.isoformat():
            continue
        items += 1
        negatives += result.sentiment.label == "negative"
        nps = _number(result.meta.get("nps"))
        if nps is not None:
            promoters += nps >= PROMOTER_MIN
            passives += PASSIVE_MIN <= nps < PROMOTER_MIN
            detractors += nps < PASSIVE_MIN
        csat = _number(result.meta.get("csat"))
        if csat is not None:
            csat_sum += csat
            csat_count += 1
    return Period(
        start.isoformat(), end.isoformat(), items, negatives, promoters, passives, detractors, csat_sum, csat_count
    )


def latest_day(session: Session) -> date | None:
    """The newest item date of the completed batches (the overview's "this week" ends there)."""
    newest = session.scalar(
        select(func.max(Item.date)).join(Batch, Batch.id == Item.batch_id).where(Batch.status == "done")
    )
    return date.fromisoformat(newest) if newest else None


def two_weeks(session: Session, until: date | None = None) -> tuple[Period, Period] | None:
    """The week (Monday–Sunday) holding `until` (default: the newest item date) and the week before."""
    last = until or latest_day(session)
    if last is None:
        return None
    monday = last - timedelta(days=last.weekday())
    previous = monday - timedelta(days=7)
    results, _ = stored_results(session, previous.isoformat(), (monday + timedelta(days=6)).isoformat())
    return (
        period_of(results, monday, monday + timedelta(days=6)),
        period_of(results, previous, monday - timedelta(days=1)),
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


# The NPS heatmap reads stored results: without a chosen range, the weeks up to the newest item.
NPS_HEATMAP_WEEKS = 8
UNKNOWN_SEGMENT = "未知"


@dataclass(frozen=True)
class NpsCell:
    """One segment value (a product line …) in one ISO week: its answers with an NPS, split."""

    row: str
    week: str
    promoters: int
    passives: int
    detractors: int

    @property
    def answers(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float:
        """Net promoter score, −100 … 100 (every cell has at least one answer)."""
        return 100.0 * (self.promoters - self.detractors) / self.answers

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "week": self.week, "answers": self.answers, "promoters": self.promoters,
                "passives": self.passives, "detractors": self.detractors, "nps": round(self.nps, 1)}  # fmt: skip


def nps_heatmap(results: Iterable[Result], dimension: str = "product") -> dict[str, Any]:
    """NPS per value of `dimension` × ISO week, from the dated answers with an NPS: rows by answers
    (most first), weeks in order, one cell per (row, week) that has answers."""
    split: dict[tuple[str, str], list[int]] = {}
    for result in results:
        score, week = nps_score(result), iso_week(result.meta.get("date"))
        if score is None or week is None:
            continue
        counts = split.setdefault((column_of(result, dimension, UNKNOWN_SEGMENT), week), [0, 0, 0])
        counts[0 if score >= PROMOTER_MIN else 1 if score >= PASSIVE_MIN else 2] += 1
    cells = [NpsCell(row, week, *counts) for (row, week), counts in split.items()]
    volume: dict[str, int] = {}
    for cell in cells:
        volume[cell.row] = volume.get(cell.row, 0) + cell.answers
    return {
        "dimension": dimension,
        "rows": sorted(volume, key=lambda row: (-volume[row], row)),
        "weeks": sorted({cell.week for cell in cells}),
        "cells": [c.to_dict() for c in sorted(cells, key=lambda c: (c.row, c.week))],
    }


def stored_nps_heatmap(
    session: Session, date_from: str | None, date_to: str | None, dimension: str = "product"
) -> dict[str, Any]:
    """`nps_heatmap` over the stored results of [date_from, date_to]; without a start, the
    NPS_HEATMAP_WEEKS weeks up to the end (or the newest item)."""
    if date_from is None:
        last = date.fromisoformat(date_to) if date_to else latest_day(session)
        if last is None:
            return nps_heatmap([], dimension)
        monday = last - timedelta(days=last.weekday())
        date_from = (monday - timedelta(weeks=NPS_HEATMAP_WEEKS - 1)).isoformat()
    results, _ = stored_results(session, date_from, date_to)
    return {**nps_heatmap(results, dimension), "from": date_from, "to": date_to}
