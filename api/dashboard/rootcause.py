"""根因路径: a Sankey from demands to the negative aspects customers name to the scores they gave, over
the chosen segment's items among the newest ROOT_CAUSE_SAMPLE of the chosen period (the heatmap's
filters); the page says how many it read of how many there are."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard import filters, queries, tallies
from api.dashboard.paths import BUCKETS, root_cause_paths
from api.dashboard.web import UserDep, render
from api.deps import SessionDep

router = APIRouter(prefix="/dashboard", include_in_schema=False)

# Items read for the paths (the newest first): parsing each stored result is the cost of this view.
ROOT_CAUSE_SAMPLE = 3000
# How a negative unit's label is stored (json.dumps): a text without it has no negative aspect.
NEGATIVE = '"label": "negative"'


@router.get("/paths", response_class=HTMLResponse)
def paths(
    request: Request,
    session: SessionDep,
    user: UserDep,
    start: filters.DayQ = "",
    end: filters.UntilQ = "",
    segment: filters.SegmentQ = "",
) -> Response:
    """根因路径 over the newest items of [from, to] (and of a segment)."""
    chosen = filters.segment(segment)
    date_from, date_to = filters.iso(start), filters.iso(end)
    error = "开始日期不能晚于结束日期" if date_from and date_to and date_from > date_to else ""
    rows = [] if error else queries.recent_rows(session, date_from, date_to, ROOT_CAUSE_SAMPLE)
    # Read as stored, only the parts the paths need (not into Result values: the page reads thousands);
    # an item not of the segment, or that says nothing negative, is left at a text check.
    spellings = queries.needles(chosen[1]) if chosen else ()
    stored, used = [], 0
    for _, text in rows:
        if chosen is not None:
            if not any(n in text for n in spellings):
                continue
            meta = queries.stored_parts(text, ("meta",)).get("meta") or {}
            if str(meta.get(chosen[0], "")).strip() != chosen[1]:
                continue
        used += 1
        if NEGATIVE in text:
            stored.append(queries.stored_parts(text, ("turns", "aspects", "meta")))
    data = {**root_cause_paths(stored, queries.theme_labels(session)), "items": used}
    in_range = tallies.figures(session, date_from, date_to, chosen).items
    return render(
        request, "paths.html", user, page="paths", data=data, buckets=BUCKETS, sample_size=ROOT_CAUSE_SAMPLE,
        read=len(rows), in_range=in_range, start=date_from or "", end=date_to or "", segment=segment,
        segments=filters.segment_choices(session), error_detail=error,
    )  # fmt: skip
