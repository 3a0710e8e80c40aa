"""Batches in the database: accepting an upload (validated first, stored whole or not at all), reading
its status and results, and loading stored results for the heatmap and trend."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.crypto import Keyring
from api.errors import TooLargeError
from api.protected import seal
from api.settings import SIZE_SETTINGS, Settings, variable
from api.staging import is_staged, stage, unstage
from api.tables import Batch, Item, RowError
from nlp.errors import InputError, Location, RowProblem
from nlp.heatmap import iso_week
from nlp.readers import SIZE_LIMITS, STREAM_LIMITS, InputTooLargeError, ReadKind, ReadOutcome, SizeLimits, read_bytes
from nlp.schema import Item as SchemaItem
from nlp.schema import Result, result_from_dict
from nlp.themes import Theme

MAX_ROW_ERRORS = 10_000


@dataclass(frozen=True)
class Accepted:
    batch: Batch
    duplicate: bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


def column_text(value: str, length: int) -> str:
    """`value` as a VARCHAR(`length`) column holds it on every database: at most `length` characters
    (SQLite ignores the length, PostgreSQL refuses longer values) and no NUL, which PostgreSQL text
    cannot hold (a JSON "\\u0000" escape brings one in). The whole value stays in the result JSON."""
    return value.replace("\x00", "")[:length]


def item_chars(item: SchemaItem) -> int:
    """Characters of an item's text (all turns of a call)."""
    return sum(len(t.text) for t in item.turns) if item.turns else len(item.text)


def read_upload(
    content: bytes,
    filename: str,
    kind: ReadKind | None,
    columns: Mapping[str, str] | None,
    size: SizeLimits = SIZE_LIMITS,
) -> ReadOutcome:
    """Read the whole upload (raises InputError naming file, row and field when it cannot be read),
    within `size` as it is read: TooLargeError (413) naming the setting to raise, at the row past it."""
    if not filename.strip():
        raise InputError(Location("(upload)"), "the upload has no file name; the extension picks the format")
    if not content:
        raise InputError(Location(filename), "the file is empty")
    try:
        return read_bytes(
            content, filename, kind=kind, columns=columns or None, limits=replace(STREAM_LIMITS, size=size)
        )
    except InputTooLargeError as error:
        setting = SIZE_SETTINGS.get(error.limit)
        hint = f" ({variable(setting)})" if setting else ""
        where = error.location
        raise TooLargeError(
            f"{where}: {error.message}{hint}", file=where.file, row=where.row, field=where.field
        ) from None


def accept_upload(
    factory: sessionmaker[Session],
    settings: Settings,
    content: bytes,
    filename: str,
    *,
    kind: ReadKind | None,
    columns: Mapping[str, str] | None,
    max_rows: int | None = None,
    max_item_chars: int | None = None,
) -> Accepted:
    """Store a new batch for `content`, or return the batch that already holds this exact file.

    The file is read and checked completely before anything is written; the batch and its bad rows
    are written in one transaction, and the file itself is staged encrypted outside the database
    (api.staging) inside it: a rejected upload leaves nothing behind. The settings' upload limits bound
    what the file may hold (at most `max_rows` items, default Settings.max_rows), checked while it is
    read; an item over `max_item_chars` (default Settings.max_item_chars) is a bad row.
    """
    max_rows = settings.max_rows if max_rows is None else max_rows
    max_item_chars = settings.max_item_chars if max_item_chars is None else max_item_chars
    size = settings.upload_limits()
    if "\x00" in filename:  # PostgreSQL cannot store it; no sensible file name has one
        raise InputError(Location(filename.replace("\x00", "\ufffd")), "the file name contains a NUL character")
    sha = hashlib.sha256(content).hexdigest()
    with factory() as session, session.begin():
        existing = session.scalar(select(Batch).where(Batch.sha256 == sha))
        if existing is not None:
            if existing.status == "failed":
                _retry(session, settings, existing, content)
            return Accepted(existing, duplicate=True)
    outcome = read_upload(content, filename, kind, columns, replace(size, max_items=max_rows))
    problems = list(outcome.problems)
    skipped: list[int] = []
    for index, item in enumerate(outcome.items):
        chars = item_chars(item)
        if chars > max_item_chars:
            skipped.append(index)
            row = _row_of(item.source)
            problems.append(
                RowProblem(
                    Location(filename, row, "text"), f"{chars} characters; at most {max_item_chars} (item {item.id!r})"
                )
            )
    if len(skipped) == len(outcome.items):
        first = f"; first: {problems[0]}" if problems else ""
        raise InputError(Location(filename), f"no item to analyse ({len(problems)} bad row(s){first})")
    now = _utcnow()
    report = dict(outcome.report)
    report["skipped"] = skipped
    batch = Batch(
        sha256=sha,
        filename=filename[:255],
        kind=kind,
        columns=dict(columns or {}),
        size=len(content),
        status="queued",
        phase="queued",
        total=len(outcome.items) - len(skipped),
        processed=0,
        report=report,
        created_at=now,
        updated_at=now,
    )
    staged_id: int | None = None
    try:
        with factory() as session, session.begin():
            session.add(batch)
            session.flush()
            staged_id = batch.id
            stage(settings, batch.id, content)
            session.add_all(
                RowError(
                    batch_id=batch.id,
                    file=column_text(p.location.file, 255),
                    row=p.location.row,
                    field=column_text(str(p.location.field), 255) if p.location.field else None,
                    message=p.message.replace("\x00", ""),
                )
                for p in problems[:MAX_ROW_ERRORS]
            )
    except BaseException as error:
        if staged_id is not None:
            unstage(settings, staged_id)
        if not isinstance(error, IntegrityError):
            raise
        # The same file arrived twice at once: the other request stored it first.
        with factory() as session:
            existing = session.scalar(select(Batch).where(Batch.sha256 == sha))
        if existing is None:
            raise
        return Accepted(existing, duplicate=True)
    return Accepted(batch, duplicate=False)


def _row_of(source: str) -> int | None:
    _, _, tail = source.rpartition(":")
    return int(tail) if tail.isdigit() else None


def _retry(session: Session, settings: Settings, batch: Batch, content: bytes) -> None:
    """A failed batch uploaded again is queued again; it resumes after the rows it had committed."""
    if not is_staged(settings, batch.id):
        stage(settings, batch.id, content)
    batch.status, batch.phase, batch.error, batch.updated_at = "queued", "queued", None, _utcnow()


def batch_view(session: Session, batch: Batch, errors_limit: int) -> dict[str, Any]:
    """The status document of a batch (BatchOut)."""
    errors_total = session.scalar(select(func.count()).select_from(RowError).where(RowError.batch_id == batch.id))
    errors = session.scalars(
        select(RowError).where(RowError.batch_id == batch.id).order_by(RowError.id).limit(errors_limit)
    ).all()
    labels = dict(batch.labels) if batch.labels else _label_counts(session, batch.id)
    read = {k: v for k, v in batch.report.items() if k != "skipped"}
    return {
        "id": batch.id,
        "filename": batch.filename,
        "sha256": batch.sha256,
        "status": batch.status,
        "phase": batch.phase,
        "total": batch.total,
        "processed": batch.processed,
        "progress": round(batch.processed / batch.total, 4) if batch.total else 1.0,
        "counts": {"items": batch.processed, "row_errors": errors_total or 0, "labels": labels},
        "errors": [{"file": e.file, "row": e.row, "field": e.field, "message": e.message} for e in errors],
        "error": batch.error,
        "read": read,
        "themes": list(batch.themes),
        "created_at": batch.created_at,
        "updated_at": batch.updated_at,
        "finished_at": batch.finished_at,
    }


def _label_counts(session: Session, batch_id: int) -> dict[str, int]:
    rows = session.execute(select(Item.label, func.count()).where(Item.batch_id == batch_id).group_by(Item.label)).all()
    return {label: count for label, count in rows}


def result_rows(session: Session, batch_id: int, offset: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Stored results of a batch in input order."""
    query = select(Item.result).where(Item.batch_id == batch_id).order_by(Item.row_index).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    for (result,) in session.execute(query):
        yield result


def batch_results(bind: Session | Connection, batch_id: int, chunk: int = 1000) -> Iterator[tuple[int, Result]]:
    """The stored (items.id, result) of a batch in items.id order, read `chunk` rows at a time."""
    after = -1
    while rows := bind.execute(
        select(Item.id, Item.result).where(Item.batch_id == batch_id, Item.id > after).order_by(Item.id).limit(chunk)
    ).all():
        after = rows[-1][0]
        for pk, data in rows:
            yield pk, result_from_dict(data)


def count_items(session: Session, batch_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Item).where(Item.batch_id == batch_id)) or 0


def item_day(result: Result) -> str | None:
    """The day an item is filed under: its ISO date, or None when it has none (or not an ISO one)."""
    date = result.meta.get("date")
    return date[:10] if isinstance(date, str) and iso_week(date) is not None else None


def item_row(row_index: int, batch_id: int, result: Result, keys: Keyring | None = None) -> dict[str, Any]:
    """The column values of a stored item; its kept identifiers (Result.protected) sealed with `keys`,
    and left out without them."""
    return {
        "batch_id": batch_id,
        "row_index": row_index,
        "item_id": column_text(result.id, 255),
        "kind": result.kind,
        "label": result.sentiment.label,
        "negative_probability": result.sentiment.negative_probability,
        "date": item_day(result),
        "top_theme": column_text(result.top_theme, 64) if result.top_theme else None,
        "result": result.to_dict(),
        "protected": seal(keys, batch_id, row_index, result.protected) if keys is not None else None,
    }


def stored_results(
    session: Session, date_from: str | None = None, date_to: str | None = None, theme: str | None = None
) -> tuple[list[Result], list[Theme]]:
    """Results of every completed batch (filtered by date range and top theme) and the themes to show.

    With a date range, items without a date are left out (they cannot be placed in it). This reads every
    matching item; the service's heatmap reads the aggregates instead (api.heatmap_db).
    """
    query = select(Item.batch_id, Item.result).join(Batch, Batch.id == Item.batch_id).where(Batch.status == "done")
    if date_from:
        query = query.where(Item.date >= date_from)
    if date_to:
        query = query.where(Item.date <= date_to)
    if theme:
        query = query.where(Item.top_theme == theme)
    results: list[Result] = []
    batches: set[int] = set()
    for batch_id, data in session.execute(query.order_by(Item.id)):
        results.append(result_from_dict(data))
        batches.add(batch_id)
    return results, stored_themes(session, lambda: batches)


def stored_themes(session: Session, shown: Callable[[], Collection[int]]) -> list[Theme]:
    """Taxonomy themes (newest keywords) first, then the discovered themes of the batches shown.

    `shown` gives the ids of the batches shown; it is only called when a completed batch has discovered
    themes. A discovered id met in several batches is listed once, with its newest keywords.
    """
    rows = session.execute(select(Batch.id, Batch.themes).where(Batch.status == "done").order_by(Batch.id)).all()
    taxonomy: dict[str, Theme] = {}
    discovered: dict[str, Theme] = {}
    batch_ids: Collection[int] | None = None
    for batch_id, themes in rows:
        for t in themes:
            theme = Theme(
                t["id"], t["label"], tuple(t["keywords"]), t.get("department", ""), t.get("discovered", False)
            )
            if not theme.discovered:
                taxonomy[theme.id] = theme
                continue
            if batch_ids is None:
                batch_ids = shown()
            if batch_id in batch_ids:
                discovered[theme.id] = theme
    return [*taxonomy.values(), *discovered.values()]


def themes_json(themes: Sequence[Theme]) -> list[dict[str, Any]]:
    return [t.to_dict() for t in themes]
