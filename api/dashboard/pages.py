"""The dashboard's read views: 总览, 需求热力图 (with a cell's verbatims and CSV), 趋势, 回访清单.

Each view calls the API's own route functions (api.routes.*) or their core (api.heatmap_db, api.store,
api.followups_db) with the signed-in key's principal, so the page shows exactly what the API answers.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import heatmap_db
from api.aggregates import CONFIG
from api.alerts_db import list_alerts
from api.dashboard import queries
from api.dashboard.web import DIMENSION_NAMES, UserDep, render, secure
from api.deps import ServicesDep, SessionDep
from api.errors import ApiError
from api.routes import alerts as alert_routes
from api.routes import followups as followup_routes
from api.routes import heatmap as heatmap_routes
from nlp.files import spreadsheet_row
from nlp.heatmap import iso_week

router = APIRouter(prefix="/dashboard", include_in_schema=False)

DimensionQ = Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# Dates as the filter form sends them: "" when left empty.
DayQ = Annotated[str, Query(alias="from", pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
UntilQ = Annotated[str, Query(alias="to", pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
SegmentQ = Annotated[str, Query(max_length=100, description="dimension:value, e.g. region:华东")]


def _segment(raw: str) -> tuple[str, str] | None:
    name, sep, value = raw.partition(":")
    if not sep or name not in queries.SEGMENTS or not value.strip():
        return None
    return name, value.strip()


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _iso(raw: str) -> str | None:
    day = _day(raw)
    return day.isoformat() if day else None


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep, services: ServicesDep, user: UserDep) -> Response:
    """总览: this week and the week before, the fastest-rising demands, open and overdue alerts."""
    weeks = queries.two_weeks(session)
    trend = heatmap_routes.trend(session, user.principal)
    rising = queries.rising_themes(trend, CONFIG.min_mentions)
    now = datetime.now(UTC)
    alerts = list_alerts(session, None, services.analyzer.rules, now)
    session.commit()  # deadlines checked: escalations saved, as GET /v1/alerts does
    live = [a for a in alerts if a["status"] in ("open", "acknowledged")]
    overdue = [a for a in live if datetime.fromisoformat(a["deadline"]) < now]
    labels = queries.theme_labels(session)
    weekly = [
        {"week": w, "items": sum(p["items"] for s in trend["series"] for p in s["points"] if p["week"] == w)}
        for w in trend["weeks"]
    ]
    return render(
        request,
        "overview.html",
        user,
        page="overview",
        weeks=weeks,
        rising=rising,
        live=live[:8],
        open_count=len(live),
        overdue_count=len(overdue),
        labels=labels,
        chart={"weeks": trend["weeks"], "series": trend["series"][:6], "weekly": weekly},
    )


def _heatmap(
    session: Any, services: Any, user: Any, dimension: str, start: str, end: str, segment: str
) -> dict[str, Any]:
    chosen = _segment(segment)
    if chosen is not None and chosen[0] != dimension:
        return queries.segment_heatmap(session, dimension, chosen, _iso(start), _iso(end)).to_dict()
    return heatmap_routes.heatmap(session, services, user.principal, dimension, _day(start), _day(end), None)


@router.get("/heatmap", response_class=HTMLResponse)
def heatmap(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: UserDep,
    dimension: DimensionQ = "region",
    start: DayQ = "",
    end: UntilQ = "",
    segment: SegmentQ = "",
) -> Response:
    """需求热力图: demand themes × one dimension, coloured by negative share; a click lists the verbatims."""
    error = ""
    try:
        data = _heatmap(session, services, user, dimension, start, end, segment)
    except ApiError as problem:
        error = "开始日期不能晚于结束日期" if isinstance(problem, heatmap_routes.InvalidRangeError) else problem.detail
        data = {"themes": [], "columns": [], "cells": [], "items": 0, "mentions": 0}
    labels = {t["id"]: t["label"] for t in data["themes"]}
    top = sorted(data["cells"], key=lambda c: -c["priority"])[:10]
    return render(
        request,
        "heatmap.html",
        user,
        page="heatmap",
        data=data,
        labels=labels,
        top=top,
        dimension=dimension,
        dimensions=DIMENSION_NAMES,
        start=_iso(start) or "",
        end=_iso(end) or "",
        segment=segment,
        segments=_segment_choices(session),
        error_detail=error,
    )


def _segment_choices(session: Any) -> list[tuple[str, str]]:
    """(value, 名称) of each segment the stored items have, for the filter's menu."""
    choices = []
    for name in queries.SEGMENTS:
        columns = heatmap_db.heatmap(session, name).columns
        choices += [(f"{name}:{c}", f"{DIMENSION_NAMES[name]}：{c}") for c in columns if c != CONFIG.unknown_column]
    return choices


@router.get("/heatmap/cell", response_class=HTMLResponse)
def cell(
    request: Request,
    session: SessionDep,
    user: UserDep,
    theme: Annotated[str, Query(max_length=64)],
    column: Annotated[str, Query(max_length=255)],
    dimension: DimensionQ = "region",
    start: DayQ = "",
    end: UntilQ = "",
    segment: SegmentQ = "",
    format: Annotated[str, Query(pattern="^(html|csv)$")] = "html",
) -> Response:
    """The verbatims behind one cell (an HTML fragment for the heatmap page, or CSV)."""
    total, found = queries.stored_cell_verbatims(
        session, dimension, column, theme, _iso(start), _iso(end), _segment(segment)
    )
    labels = queries.theme_labels(session)
    if format == "csv":
        rows: list[list[Any]] = [
            ["item_id", "theme", "column", "text", "term", "opinion", "label", "negative_probability", "emotion"]
        ]
        rows += [
            [v.item_id, labels.get(theme, theme), column, v.text, v.term, v.opinion, v.label,
             f"{v.negative_probability:.4f}", v.to_dict()["emotion_name"] or ""]
            for v in found
        ]  # fmt: skip
        return _csv(rows, f"verbatims-{theme}-{column}.csv")
    return render(
        request,
        "_verbatims.html",
        user,
        theme=labels.get(theme, theme),
        column=column,
        total=total,
        verbatims=[v.to_dict() for v in found],
    )


@router.get("/heatmap.csv")
def heatmap_csv(
    session: SessionDep,
    services: ServicesDep,
    user: UserDep,
    dimension: DimensionQ = "region",
    start: DayQ = "",
    end: UntilQ = "",
    segment: SegmentQ = "",
) -> Response:
    """The heatmap's cells as CSV (UTF-8 with BOM, which Excel on Chinese Windows reads)."""
    data = _heatmap(session, services, user, dimension, start, end, segment)
    labels = {t["id"]: t["label"] for t in data["themes"]}
    rows: list[list[Any]] = [["theme", "label", dimension, "mentions", "items", "negatives", "negative_share",
             "negative_share_low", "negative_share_high", "mean_score", "priority", "sparse"]]  # fmt: skip
    rows += [
        [c["theme"], labels.get(c["theme"], c["theme"]), c["column"], c["mentions"], c["items"], c["negatives"],
         c["negative_share"], c["negative_share_low"], c["negative_share_high"], c["mean_score"], c["priority"],
         int(c["sparse"])]
        for c in data["cells"]
    ]  # fmt: skip
    return _csv(rows, f"heatmap-{dimension}.csv")


def _csv(rows: list[list[Any]], filename: str) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(spreadsheet_row(r) for r in rows)  # no =, +, -, @ formulas for Excel
    response = Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}"},
    )
    return secure(response)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


@router.get("/trend", response_class=HTMLResponse)
def trend(request: Request, session: SessionDep, user: UserDep, start: DayQ = "", end: UntilQ = "") -> Response:
    """趋势: each demand's weekly negative share (GET /v1/trend), with the alerts' weeks marked; and the
    NPS of each product line per week, with the weeks of its NPS drop alerts marked."""
    data = heatmap_routes.trend(session, user.principal, _day(start), _day(end))
    alerts = alert_routes.alerts(session, request.app.state.services, user.principal, None)["items"]
    marks = [{"theme": a["theme"], "start": a["window"]["start"], "rule": a["rule"]} for a in alerts if a["theme"]]
    nps = queries.stored_nps_heatmap(session, _iso(start), _iso(end))
    drops = [
        {"row": a["segment"]["product"], "week": iso_week(a["window"]["start"]), "rule": a["rule"], "id": a["id"]}
        for a in alerts
        if a["kind"] == "nps_drop" and set(a["segment"]) == {"product"}
    ]
    return render(
        request, "trend.html", user, page="trend", chart={**data, "alerts": marks},
        nps={**nps, "alerts": drops}, start=_iso(start) or "", end=_iso(end) or "",
        nps_cells={f"{c['row']}|{c['week']}": c for c in nps["cells"]},
        nps_marked={f"{d['row']}|{d['week']}" for d in drops}, nps_weeks=queries.NPS_HEATMAP_WEEKS,
    )  # fmt: skip


@router.get("/followups", response_class=HTMLResponse)
def followups(
    request: Request,
    session: SessionDep,
    user: UserDep,
    tier: Annotated[str, Query(max_length=64)] = "",
    theme: Annotated[str, Query(max_length=64)] = "",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """回访清单: who to call back, about what, by when (GET /v1/followups)."""
    page = followup_routes.followups(session, user.principal, tier or None, theme or None, None, offset, 100)
    return render(
        request, "followups.html", user, page="followups", data=page, labels=queries.theme_labels(session),
        tier=tier, theme=theme, now=datetime.now(UTC).isoformat(),
    )  # fmt: skip
