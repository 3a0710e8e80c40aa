"""A batch's chunks in the database: planned once, each committed once, the last commit seen by one.

`plan` cuts the batch's work (its `total` rows, api.worker.batch_rows) into chunks of a fixed size and
stores them (batch_chunks). A chunk task `take`s its chunk (counting the delivery), analyses the rows,
and `commit`s: under the batch's row lock it inserts the items (insert-if-absent on (batch_id,
row_index)), marks the chunk done, adds to `processed` and counts the chunks still pending. Chunk commits
of one batch therefore run one after another, a redelivered chunk finds itself done and writes nothing,
and exactly one commit — the last — sees none pending: that task sends the batch's completion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from api.tables import Batch, BatchChunk, Item


class NotRunning(Exception):
    """The batch is no longer running (done, failed, or gone): a task for it stops without writing."""


@dataclass(frozen=True)
class Taken:
    """A chunk a task has taken: its rows (first, count) and how many times it has been delivered."""

    batch_id: int
    chunk: int
    first: int
    count: int
    attempts: int
    error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def running(session: Session, batch_id: int) -> Batch:
    """The batch, locked for this transaction, while it is running; NotRunning otherwise (a `Hold`)."""
    batch = session.get(Batch, batch_id, with_for_update=True)
    if batch is None or batch.status != "running":
        raise NotRunning(batch_id)
    return batch


def plan(session: Session, batch: Batch, size: int) -> list[int]:
    """Store the chunks of `batch` (locked by the caller) once, `size` rows each; the chunks left to do.

    Planned again (a redelivered plan, a batch sent again), the chunks stay as they are. A failed batch
    uploaded again (status queued) gets its failed and pending chunks back with their deliveries reset.
    """
    now = _now()
    query = select(BatchChunk.chunk, BatchChunk.status).where(BatchChunk.batch_id == batch.id)
    existing = {chunk: status for chunk, status in session.execute(query)}
    if not existing:
        starts = list(range(0, batch.total, size))
        rows = [
            {
                "batch_id": batch.id,
                "chunk": i,
                "first": first,
                "count": min(size, batch.total - first),
                "status": "pending",
                "attempts": 0,
                "updated_at": now,
            }
            for i, first in enumerate(starts)
        ]
        session.execute(insert(BatchChunk), rows)
        return list(range(len(starts)))
    if batch.status == "queued":
        session.execute(
            update(BatchChunk)
            .where(BatchChunk.batch_id == batch.id, BatchChunk.status != "done")
            .values(status="pending", attempts=0, error=None, updated_at=now)
        )
        return sorted(c for c, status in existing.items() if status != "done")
    return sorted(c for c, status in existing.items() if status == "pending")


def take(factory: sessionmaker[Session], batch_id: int, chunk: int, node: str) -> Taken | None:
    """Count a delivery of chunk `chunk` to `node`; None when there is nothing to do (the chunk is done
    or failed, or the batch is not running)."""
    with factory() as session, session.begin():
        if session.scalar(select(Batch.status).where(Batch.id == batch_id)) != "running":
            return None
        row = session.execute(
            update(BatchChunk)
            .where(BatchChunk.batch_id == batch_id, BatchChunk.chunk == chunk, BatchChunk.status == "pending")
            .values(attempts=BatchChunk.attempts + 1, worker=node[:100], updated_at=_now())
            .returning(BatchChunk.first, BatchChunk.count, BatchChunk.attempts, BatchChunk.error)
        ).first()
    if row is None:
        return None
    first, count, attempts, error = row
    return Taken(batch_id, chunk, first, count, attempts, error)


def _insert_absent(session: Session) -> Any:
    """INSERT INTO items … ON CONFLICT (batch_id, row_index) DO NOTHING, in the session's dialect."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(Item).on_conflict_do_nothing(index_elements=["batch_id", "row_index"])


def commit(factory: sessionmaker[Session], taken: Taken, stored: list[dict[str, Any]], node: str) -> bool | None:
    """Store the analysed rows of `taken` and mark it done, in one transaction under the batch's lock.

    True: it was the batch's last chunk (none pending now); False: others remain; None: nothing written,
    because the chunk was done already (a redelivery) or the batch is no longer running.
    """
    with factory() as session, session.begin():
        try:
            batch = running(session, taken.batch_id)
        except NotRunning:
            return None
        row = session.get(BatchChunk, (taken.batch_id, taken.chunk), with_for_update=True)
        if row is None or row.status != "pending":
            return None
        inserted = session.scalars(_insert_absent(session).returning(Item.row_index), stored).all() if stored else []
        now = _now()
        row.status, row.worker, row.error, row.updated_at = "done", node[:100], None, now
        batch.processed += len(inserted)
        batch.phase = "scoring"
        batch.updated_at = now
        session.flush()
        return pending(session, taken.batch_id) == 0


def pending(session: Session, batch_id: int) -> int:
    """Chunks of the batch not yet done."""
    return (
        session.scalar(
            select(func.count())
            .select_from(BatchChunk)
            .where(BatchChunk.batch_id == batch_id, BatchChunk.status != "done")
        )
        or 0
    )


def note_error(factory: sessionmaker[Session], taken: Taken, message: str, failed: bool = False) -> None:
    """Keep the chunk's last error (and mark it failed when it will not be tried again)."""
    with factory() as session, session.begin():
        values: dict[str, Any] = {"error": message, "updated_at": _now()}
        if failed:
            values["status"] = "failed"
        session.execute(
            update(BatchChunk)
            .where(
                BatchChunk.batch_id == taken.batch_id, BatchChunk.chunk == taken.chunk, BatchChunk.status == "pending"
            )
            .values(**values)
        )
