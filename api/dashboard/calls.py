"""通话: one stored item — a call's turns with each turn's polarity and emotion along a timeline, the
customer's emotion trajectory and the abnormal flag with its reasons; a survey answer with its opinion
units. Reached from a verbatim (by items.id), from a follow-up or an alert's example (by the item id:
`/dashboard/items?id=…`, the newest stored item of that id) and from a batch's list of items."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.dashboard.web import UserDep, render, secure
from api.deps import SessionDep
from api.routes import RowId
from api.tables import Batch, Item
from nlp.schema import EMOTION_NAMES, result_from_dict

router = APIRouter(prefix="/dashboard", include_in_schema=False)
ITEMS_PAGE = 50


def timeline(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One point per turn for the chart: where it falls (seconds, or the turn's number when the call has
    no times), who spoke, its score (−1 … 1), label and emotion."""
    turns = result.get("turns") or []
    timed = bool(turns) and all(t.get("start") is not None for t in turns)
    return [
        {
            "at": t["start"] if timed else n + 1,
            "speaker": t["speaker"],
            "score": t["sentiment"]["score"],
            "label": t["sentiment"]["label"],
            "emotion": t.get("emotion"),
            "emotion_name": EMOTION_NAMES.get(t.get("emotion") or "", ""),
            "text": t["text"],
        }
        for n, t in enumerate(turns)
    ]


@router.get("/calls/{item_pk}", response_class=HTMLResponse)
def call(request: Request, item_pk: RowId, session: SessionDep, user: UserDep) -> Response:
    """通话 (or 问卷回答): one stored item of a completed batch."""
    row = session.execute(
        select(Item.result, Item.batch_id, Batch.filename)
        .join(Batch, Batch.id == Item.batch_id)
        .where(Item.id == item_pk, Batch.status == "done")
    ).one_or_none()
    if row is None:
        return render(request, "missing.html", user, status_code=404, what=f"条目 {item_pk}")
    result = result_from_dict(row[0]).to_dict()
    points = timeline(result)
    return render(
        request, "call.html", user, page="batches", result=result, points=points, batch_id=row[1],
        filename=row[2], timed=bool(points) and all(t.get("start") is not None for t in result.get("turns", [])),
    )  # fmt: skip


@router.get("/items")
def item_by_id(
    request: Request, session: SessionDep, user: UserDep, id: Annotated[str, Query(min_length=1, max_length=255)]
) -> Response:
    """The page of the newest stored item whose id is `id` (a follow-up and an alert name items so)."""
    found = session.scalar(
        select(Item.id)
        .join(Batch, Batch.id == Item.batch_id)
        .where(Item.item_id == id, Batch.status == "done")
        .order_by(Item.id.desc())
        .limit(1)
    )
    if found is None:
        return render(request, "missing.html", user, status_code=404, what=f"编号为 {id} 的条目")
    return secure(RedirectResponse(f"/dashboard/calls/{found}", status_code=303))


@router.get("/batches/{batch_id}/items", response_class=HTMLResponse)
def batch_items(
    request: Request,
    batch_id: RowId,
    session: SessionDep,
    user: UserDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    kind: Annotated[str, Query(pattern="^(|transcript|survey)$")] = "",
) -> Response:
    """A batch's items in input order, a page at a time, each linked to its page."""
    batch = session.get(Batch, batch_id)
    if batch is None or batch.status != "done":
        return render(request, "missing.html", user, status_code=404, what=f"已完成的批次 {batch_id}")
    query = select(Item.id, Item.result).where(Item.batch_id == batch_id)
    if kind:
        query = query.where(Item.kind == kind)
    rows = session.execute(query.order_by(Item.row_index).offset(offset).limit(ITEMS_PAGE + 1)).all()
    items = [{"pk": pk, **result_from_dict(data).to_dict()} for pk, data in rows[:ITEMS_PAGE]]
    return render(
        request, "batch_items.html", user, page="batches", batch=batch, items=items, offset=offset, kind=kind,
        more=len(rows) > ITEMS_PAGE, page_size=ITEMS_PAGE,
    )  # fmt: skip
