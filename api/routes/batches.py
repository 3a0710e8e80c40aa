"""Batch uploads: POST a file (any SPEC input), follow its job, read its results. An upload is in the
audit log (its size and item count; not its file name, which may name a customer)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from api.audit import record_apart
from api.deps import AnalystKey, ServicesDep, SessionDep
from api.errors import ApiError, NotFoundError
from api.routes import RowId, problems, read_limited
from api.schemas import BatchCreatedOut, BatchOut, ResultsPageOut
from api.store import accept_upload, batch_view, count_items, result_rows
from api.tables import Batch
from nlp.files import spreadsheet_row
from nlp.schema import result_from_dict

router = APIRouter(prefix="/v1/batches", tags=["batches"])
# New columns go at the end, so that a spreadsheet reading the older columns by position still works.
CSV_COLUMNS = (
    "id",
    "kind",
    "text",
    "label",
    "score",
    "negative_probability",
    "emotion",  # the English class (angry, sad, …); emotion_name has the Chinese
    "keywords",
    "themes",
    "meta",
    "neutral_probability",  # empty from a two-class scorer
    "positive_probability",
    "emotion_name",
    "trajectory",  # calls only: 情绪由怒转平, …
    "abnormal",  # calls only: true or false
    "aspects",  # theme:term·opinion:label of each opinion unit, "; "-separated (物流配送 logistics:物流·慢:negative)
)


class InvalidFieldError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


def _columns(raw: str | None) -> dict[str, str] | None:
    """The `columns` form field: a JSON object {"text": "回答", "tier": "等级"}."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidFieldError(
            f'columns: not JSON ({error.msg}); expected an object like {{"text": "回答"}}'
        ) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidFieldError('columns: expected a JSON object of strings, e.g. {"text": "回答", "tier": "等级"}')
    return value


@router.post(
    "",
    response_model=BatchCreatedOut,
    status_code=202,
    responses=problems(401, 403, 413, 422)
    | {200: {"description": "This exact file was uploaded before: its batch", "model": BatchCreatedOut}},
)
async def upload(
    file: Annotated[UploadFile, File(description="A transcript (.jsonl, .txt) or survey (.csv, .tsv, .xlsx, .jsonl)")],
    services: ServicesDep,
    response: Response,
    key: AnalystKey,
    kind: Annotated[Literal["transcript", "survey"] | None, Form()] = None,
    columns: Annotated[str | None, Form(description='Column mapping as JSON, e.g. {"text": "回答"}')] = None,
) -> BatchCreatedOut:
    """Upload one file as a batch; 202 with its id. The file is read and checked completely first: an
    unreadable file is refused with a problem naming file, row and field, and nothing is stored. The
    same file again (same sha256) returns the existing batch (200) and adds no rows."""
    settings = services.settings
    mapping = _columns(columns)
    content = await read_limited(file, settings.max_upload_bytes)
    accepted = await run_in_threadpool(
        accept_upload, services.factory, settings, content, file.filename or "", kind=kind, columns=mapping
    )
    batch = accepted.batch
    # accept_upload commits the batch in its own session; its entry follows in one of its own.
    detail = {"bytes": len(content), "items": batch.total, "duplicate": accepted.duplicate}
    await run_in_threadpool(record_apart, services.factory, key.key_id, "batch.upload", f"batch:{batch.id}", detail)
    if services.worker is not None:
        services.worker.notify()
    response.status_code = 200 if accepted.duplicate else 202
    response.headers["Location"] = f"/v1/batches/{batch.id}"
    return BatchCreatedOut(id=batch.id, status=batch.status, duplicate=accepted.duplicate, total=batch.total)  # type: ignore[arg-type]


def _batch(session: SessionDep, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFoundError(f"no batch {batch_id}")
    return batch


@router.get("", response_model=list[BatchOut], responses=problems(401, 403, 422))
def list_batches(
    session: SessionDep,
    _key: AnalystKey,
    response: Response,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Batches, newest first (without their row errors; the total is in X-Total-Count)."""
    response.headers["X-Total-Count"] = str(session.scalar(select(func.count()).select_from(Batch)) or 0)
    batches = session.scalars(select(Batch).order_by(Batch.id.desc()).offset(offset).limit(limit)).all()
    return [batch_view(session, b, errors_limit=0) for b in batches]


@router.get("/{batch_id}", response_model=BatchOut, responses=problems(401, 403, 404, 422))
def get_batch(
    batch_id: RowId,
    session: SessionDep,
    _key: AnalystKey,
    errors_limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
) -> dict[str, Any]:
    """Status, progress, counts and per-row errors of a batch."""
    return batch_view(session, _batch(session, batch_id), errors_limit)


def _current(row: dict[str, Any]) -> dict[str, Any]:
    """A stored result in today's form: read back through the core's reader, so that one stored before
    emotions had English classes (emotion "愤怒") is served as angry / 愤怒 like a new one."""
    return result_from_dict(row).to_dict()


def _csv_row(r: dict[str, Any]) -> list[Any]:
    s = r["sentiment"]
    probabilities = s.get("probabilities", {})
    call = r.get("call") or {}
    return [
        r["id"],
        r["kind"],
        r["text"],
        s["label"],
        s["score"],
        s["negative_probability"],
        r.get("emotion") or "",
        " ".join(r.get("keywords", [])),
        " ".join(t["id"] for t in r.get("themes", [])),
        json.dumps(r.get("meta", {}), ensure_ascii=False),
        probabilities.get("neutral", ""),
        probabilities.get("positive", ""),
        r.get("emotion_name") or "",
        call.get("trajectory", ""),
        ("true" if call["abnormal"] else "false") if call else "",
        "; ".join(
            f"{a.get('theme') or ''}:{'·'.join(x for x in (a.get('term'), a.get('opinion')) if x)}:{a['label']}"
            for a in r.get("aspects", [])
        ),
    ]


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(spreadsheet_row(_csv_row(r)))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@router.get(
    "/{batch_id}/results",
    response_model=ResultsPageOut,
    responses=problems(401, 403, 404, 422)
    | {
        200: {
            "description": "A page of results (JSON), or all of them as JSON Lines or CSV",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        }
    },
)
def get_results(
    batch_id: RowId,
    session: SessionDep,
    _key: AnalystKey,
    format: Annotated[Literal["json", "jsonl", "csv"], Query()] = "json",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Results in input order: a page (json), or the whole batch as a download (jsonl, csv). Themes
    are filled in once the batch is done."""
    _batch(session, batch_id)
    if format == "json":
        items = [_current(r) for r in result_rows(session, batch_id, offset, limit)]
        return {
            "batch_id": batch_id,
            "total": count_items(session, batch_id),
            "offset": offset,
            "limit": limit,
            "items": items,
        }
    # Read before returning: the request's session closes when the handler returns.
    rows_list = [_current(r) for r in result_rows(session, batch_id)]
    name = f"batch-{batch_id}-results.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "jsonl":
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in rows_list)
        return StreamingResponse(lines, media_type="application/x-ndjson", headers=headers)
    return StreamingResponse(_csv_lines(iter(rows_list)), media_type="text/csv; charset=utf-8", headers=headers)
