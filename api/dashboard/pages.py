"""The dashboard's read views: 总览, 需求热力图 (with a cell's verbatims and CSV), 趋势, 回访清单.

Each view calls the API's own route functions (api.routes.*) or their core (api.heatmap_db, api.store,
api.followups_db) with the signed-in key's principal, so the page shows exactly what the API answers;
what the API has no route for is read from the dashboard's tallies and bounded samples (queries).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import heatmap_db
from api.aggregates import CONFIG
from api.alerts_db import list_alerts
from api.dashboard import nps as nps_views
from api.dashboard import queries
from api.dashboard.filters import DayQ, DimensionQ, SegmentQ, UntilQ, day, iso, segment_choices
from api.dashboard.filters import segment as segment_of
from api.dashboard.tallies import THEME
from api.dashboard.web import DIMENSION_NAMES, UserDep, render, secure
from api.deps import ServicesDep, SessionDep
from api.errors import ApiError
from api.routes import alerts as alert_routes
from api.routes import followups as followup_routes
from api.routes import heatmap as heatmap_routes
from nlp.files import spreadsheet_row
from nlp.heatmap import iso_week

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: UserDep,
    start: DayQ = "",
    end: UntilQ = "",
    segment: SegmentQ = "",
) -> Response:
    """总览: the chosen period (default: the newest week) against the one before, the fastest-rising
    demands, open and overdue alerts."""
    first, last = day(start), day(end)
    error = "开始日期不能晚于结束日期" if first and last and first > last else ""
    weeks = None if error else queries.periods(session, first, last, segment_of(segment))
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
        start=iso(start) or "",
        end=iso(end) or "",
        segment=segment,
        segments=segment_choices(session),
        error_detail=error,
    )


def _heatmap(
    session: Any, services: Any, user: Any, dimension: str, start: str, end: str, segment: str
) -> tuple[dict[str, Any], queries.Sampled | None]:
    """The heatmap's body, and what it read when it is a segment's sample (None: the aggregates)."""
    chosen = segment_of(segment)
    if chosen is not None and chosen[0] != dimension:
        found, read = queries.segment_heatmap(session, dimension, chosen, iso(start), iso(end))
        return found.to_dict(), read
    return heatmap_routes.heatmap(session, services, user.principal, dimension, day(start), day(end), None), None


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
    sampled = None
    try:
        data, sampled = _heatmap(session, services, user, dimension, start, end, segment)
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
        start=iso(start) or "",
        end=iso(end) or "",
        segment=segment,
        segments=segment_choices(session),
        sampled=sampled,
        error_detail=error,
    )


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
    """The verbatims behind one cell (an HTML fragment for the heatmap page, or CSV), from the newest
    items of the cell; how many mentions the whole cell has comes from the aggregates (without a segment)."""
    chosen = segment_of(segment)
    found, verbatims, sample = queries.stored_cell_verbatims(
        session, dimension, column, theme, iso(start), iso(end), chosen
    )
    labels = queries.theme_labels(session)
    if format == "csv":
        rows: list[list[Any]] = [
            ["item_id", "theme", "column", "text", "term", "opinion", "label", "negative_probability", "emotion"]
        ]
        rows += [
            [v.item_id, labels.get(theme, theme), column, v.text, v.term, v.opinion, v.label,
             f"{v.negative_probability:.4f}", v.to_dict()["emotion_name"] or ""]
            for v in verbatims
        ]  # fmt: skip
        return _csv(rows, f"verbatims-{theme}-{column}.csv")
    total = None
    if chosen is None or chosen[0] == dimension:
        counted = heatmap_db.heatmap(session, dimension, iso(start), iso(end), theme)
        total = next((c.mentions for c in counted.cells if c.theme == theme and c.column == column), 0)
    return render(
        request,
        "_verbatims.html",
        user,
        theme=labels.get(theme, theme),
        column=column,
        total=total,
        found=found,
        sample=sample,
        verbatims=[v.to_dict() for v in verbatims],
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
    data, _ = _heatmap(session, services, user, dimension, start, end, segment)
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
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
    return secure(response)


@router.get("/trend", response_class=HTMLResponse)
def trend(
    request: Request, session: SessionDep, services: ServicesDep, user: UserDep, start: DayQ = "", end: UntilQ = ""
) -> Response:
    """趋势: each demand's weekly negative share (GET /v1/trend), with the alerts' weeks marked; and the
    NPS of each product line per week, with the weeks of its NPS drop alerts marked — or, where the
    service runs no NPS drop rule, the weeks the programme's rule would flag."""
    data = heatmap_routes.trend(session, user.principal, day(start), day(end))
    alerts = alert_routes.alerts(session, services, user.principal, None)["items"]
    marks = [{"theme": a["theme"], "start": a["window"]["start"], "rule": a["rule"]} for a in alerts if a["theme"]]
    nps = nps_views.stored_nps_heatmap(session, iso(start), iso(end))
    by_demand = nps_views.stored_nps_heatmap(session, iso(start), iso(end), THEME, queries.theme_labels(session))
    drops = [
        {"row": a["segment"]["product"], "week": iso_week(a["window"]["start"]), "rule": a["rule"], "id": a["id"]}
        for a in alerts
        if a["kind"] == "nps_drop" and set(a["segment"]) == {"product"}
    ]
    enabled = [r for r in services.analyzer.rules.nps_drop if tuple(r.dimensions) == ("product",)]
    # Off by default (data/alerts.toml): show what the programme's rule would raise, over the same cells.
    preview = [] if enabled else nps_views.drop_weeks(
        nps_views.nps_cells(session, "product", nps["from"], nps["to"]), nps_views.PROGRAMME_RULE, "product"
    )  # fmt: skip
    return render(
        request, "trend.html", user, page="trend", chart={**data, "alerts": marks},
        nps={**nps, "alerts": drops, "preview": preview}, demand_nps={**by_demand, "alerts": [], "preview": []},
        start=iso(start) or "", end=iso(end) or "",
        nps_cells={f"{c['row']}|{c['week']}": c for c in nps["cells"]},
        nps_marked={f"{d['row']}|{d['week']}" for d in drops},
        nps_preview={f"{d['row']}|{d['week']}": d for d in preview},
        nps_rule=enabled[0] if enabled else nps_views.PROGRAMME_RULE, nps_enabled=bool(enabled),
        nps_weeks=nps_views.NPS_HEATMAP_WEEKS,
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
    """回访清单: who to call back, about what, by when (GET /v1/followups); each entry links to its item."""
    page = followup_routes.followups(session, user.principal, tier or None, theme or None, None, offset, 100)
    return render(
        request, "followups.html", user, page="followups", data=page, labels=queries.theme_labels(session),
        tier=tier, theme=theme, now=datetime.now(UTC).isoformat(),
    )  # fmt: skip
