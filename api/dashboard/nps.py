"""趋势's NPS heatmap (a segment dimension × ISO week, from the maintained tallies) and the weeks its NPS
week-on-week drop rule finds: the rules the service runs, or — where none is enabled — the programme's
周环比下降 5 分 (`PROGRAMME_RULE`, the rule data/alerts.toml documents, commented out), run by the alert
engine's own candidate finder (nlp.alerts.candidates.nps_drop_candidates) over the same cells, so the
page can show which weeks would breach before anyone turns it on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.dashboard import tallies
from nlp.alerts.candidates import nps_drop_candidates
from nlp.alerts.rules import NpsDropRule
from nlp.alerts.tally import GroupKey, NpsTally, window_of
from nlp.heatmap import iso_week

# The weeks shown without a chosen range: up to the newest item.
NPS_HEATMAP_WEEKS = 8
UNKNOWN_SEGMENT = "未知"
# NpsDropRule's defaults are the programme's: by product line, 5 points, 30 answers a week, alpha 0.05
# Bonferroni-corrected (as the commented [[nps_drop]] product_nps_drop of data/alerts.toml).
PROGRAMME_RULE = NpsDropRule(name="product_nps_drop")


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


def nps_layout(cells: Sequence[NpsCell], dimension: str) -> dict[str, Any]:
    """The NPS heatmap of `cells`: rows by answers (most first), weeks in order."""
    volume: dict[str, int] = {}
    for cell in cells:
        volume[cell.row] = volume.get(cell.row, 0) + cell.answers
    return {
        "dimension": dimension,
        "rows": sorted(volume, key=lambda row: (-volume[row], row)),
        "weeks": sorted({cell.week for cell in cells}),
        "cells": [c.to_dict() for c in sorted(cells, key=lambda c: (c.row, c.week))],
    }


def nps_range(session: Session, date_from: str | None, date_to: str | None) -> tuple[str | None, str | None]:
    """[date_from, date_to], or without a start the NPS_HEATMAP_WEEKS weeks up to the end (or the newest
    item)."""
    if date_from is None:
        last = date.fromisoformat(date_to) if date_to else tallies.newest_day(session)
        if last is None:
            return None, date_to
        monday = last - timedelta(days=last.weekday())
        date_from = (monday - timedelta(weeks=NPS_HEATMAP_WEEKS - 1)).isoformat()
    return date_from, date_to


def nps_cells(
    session: Session,
    dimension: str,
    date_from: str | None,
    date_to: str | None,
    labels: Mapping[str, str] | None = None,
) -> list[NpsCell]:
    """The NPS cells of `dimension` × week from the maintained tallies; items without a value: 未知.
    `labels` names the rows (a demand's id → its Chinese label)."""
    weeks = tallies.nps_weeks(session, dimension, date_from, date_to)
    named = labels or {}
    return [
        NpsCell(
            named.get(w.value, w.value) if w.value else UNKNOWN_SEGMENT, w.week, w.promoters, w.passives, w.detractors
        )
        for w in weeks
    ]


def stored_nps_heatmap(
    session: Session,
    date_from: str | None,
    date_to: str | None,
    dimension: str = "product",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """NPS per value of `dimension` × ISO week of [date_from, date_to] (see nps_range); for the
    demands (tallies.THEME), of the answers that mention each, rows named by `labels`."""
    date_from, date_to = nps_range(session, date_from, date_to)
    cells = nps_cells(session, dimension, date_from, date_to, labels)
    return {**nps_layout(cells, dimension), "from": date_from, "to": date_to}


class CountedNps(NpsTally):
    """An NPS cell known by its counts alone (from the tallies): what the drop rule tests, no examples."""

    __slots__ = ()

    def __init__(self, promoters: int, passives: int, detractors: int) -> None:
        super().__init__(0, 0)
        self.promoters = promoters
        self._answers.count = promoters + passives + detractors
        self._answers.bad = detractors


def _monday(week: str) -> date:
    return date.fromisocalendar(int(week[:4]), int(week[6:]), 1)


def drop_weeks(cells: Sequence[NpsCell], rule: NpsDropRule, dimension: str) -> list[dict[str, Any]]:
    """The (row, week) cells where `rule` (one-dimensional, over `dimension`) finds an NPS drop: the
    alert engine's candidates over the same counts. Rows 未知 take no part (the engine leaves out
    answers without the dimension)."""
    if tuple(rule.dimensions) != (dimension,):
        return []
    grouped: dict[GroupKey, NpsTally] = {}
    for cell in cells:
        if cell.row == UNKNOWN_SEGMENT:
            continue
        key: GroupKey = (None, ((dimension, cell.row),), window_of(_monday(cell.week), "week"))
        grouped[key] = CountedNps(cell.promoters, cell.passives, cell.detractors)
    found = []
    for candidate in nps_drop_candidates(grouped, rule):
        evidence = candidate.evidence
        found.append(
            {
                "row": candidate.segment[dimension],
                "week": iso_week(candidate.window.start),
                "rule": rule.name,
                "previous_nps": evidence.previous_nps,
                "nps": evidence.nps,
                "p_value": evidence.p_value,
            }
        )
    return found
