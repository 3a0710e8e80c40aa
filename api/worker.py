"""The batch worker: durable jobs from the `batches` table, processed in committed chunks.

A batch is claimed with a lease (a conditional UPDATE, so two workers never hold one batch). Its
items are analysed `worker_chunk_size` at a time; each chunk's items and the batch's new `processed`
count are committed in ONE transaction, and (batch_id, row_index) is unique. A process killed
mid-batch therefore loses at most the chunk it had not committed; the next claim re-reads the stored
upload and continues at `processed`, so no row is lost and none is stored twice. When every item is
in, the batch's demand themes are fitted, the items updated, the upload deleted, the batch marked
done and the alert rules run (and the batch's answers to call back listed) — all in one final transaction.

The steps themselves (`batch_rows`, `analyse_rows`, `finish_batch`, `fail_batch`) are functions that the
Celery tasks of a scaled-out deployment (api.distributed) call too: one analysis path for both.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api import heap
from api.aggregates import add_batch
from api.alerts_db import evaluate_after_batch
from api.analysis import Analyzer
from api.background import BackgroundLoop
from api.crypto import Keyring, keyring
from api.settings import Settings
from api.staging import forget_upload, staged
from api.store import column_text, item_row, themes_json
from api.tables import Batch, Item
from api.themes_db import load_catalog
from nlp.alerts import Alert, theme_labels
from nlp.errors import KeshengError
from nlp.readers import iter_bytes
from nlp.schema import Item as SchemaItem
from nlp.schema import Result, result_from_dict

log = logging.getLogger("kesheng.api.worker")

# Stored results read back at a time when a batch is finished (themes applied, rows updated).
FINISH_CHUNK = 1000

Row = tuple[int, SchemaItem]
# Locks the batch's row for the caller's transaction and returns it, or raises when this caller may no
# longer write to it (the in-process worker: its lease; a Celery task: the batch is no longer running).
Hold = Callable[[Session], Batch]


class LeaseLost(Exception):
    """Another worker took the batch over (our lease ran out); stop without writing."""


def _now() -> datetime:
    return datetime.now(UTC)


# --- the upload: the only two places that know where it is kept --------------------------------------
def load_upload(settings: Settings, batch_id: int) -> bytes:
    """The raw upload of a batch (api.staging); a KeshengError saying to upload it again when it is gone."""
    return staged(settings, batch_id)


def drop_upload(settings: Settings, factory: sessionmaker[Session], batch_id: int) -> None:
    """The raw upload is not kept past its job (done or failed); uploading the file again retries it."""
    forget_upload(settings, factory, batch_id)


# --- the steps, shared with the Celery tasks (api.distributed.tasks) -----------------------------------
@dataclass(frozen=True)
class BatchInput:
    """What reading a batch's upload again takes, from its row: name, kind, column mapping, bad rows."""

    batch_id: int
    filename: str
    kind: str | None
    columns: dict[str, str]
    skipped: frozenset[int]

    @classmethod
    def of(cls, batch: Batch) -> BatchInput:
        skipped = frozenset(int(i) for i in batch.report.get("skipped", []))
        return cls(batch.id, batch.filename, batch.kind, dict(batch.columns or {}), skipped)


def batch_rows(content: bytes, source: BatchInput) -> Iterator[Row]:
    """The rows to analyse, in upload order: (row index, item), the rows too long to analyse left out.

    The upload was validated when it was accepted; it is read again as a stream, a row at a time, so a
    chunk's rows are the same on every reading (position p of this stream is row p of the batch's work).
    """
    stream = iter_bytes(content, source.filename, kind=source.kind, columns=source.columns or None)  # type: ignore[arg-type]
    return ((index, item) for index, item in enumerate(stream) if index not in source.skipped)


def analyse_rows(analyzer: Analyzer, keys: Keyring, batch_id: int, chunk: Sequence[Row]) -> list[dict[str, Any]]:
    """The `items` rows of analysed `chunk` (redacted results, identifiers sealed with `keys`)."""
    results = analyzer.analyse([item for _, item in chunk])
    return [item_row(index, batch_id, r, keys) for (index, _), r in zip(chunk, results, strict=True)]


def stored_results(factory: sessionmaker[Session], batch_id: int) -> Iterator[list[tuple[int, Result]]]:
    """The batch's stored results in row order, a chunk at a time (bounded memory)."""
    after = -1
    while True:
        with factory() as session:
            rows = session.execute(
                select(Item.id, Item.row_index, Item.result)
                .where(Item.batch_id == batch_id, Item.row_index > after)
                .order_by(Item.row_index)
                .limit(FINISH_CHUNK)
            ).all()
        if not rows:
            return
        after = rows[-1].row_index
        yield [(item_id, result_from_dict(data)) for item_id, _, data in rows]


def finish_batch(
    factory: sessionmaker[Session], analyzer: Analyzer, settings: Settings, batch_id: int, hold: Hold
) -> list[Alert]:
    """Themes fitted on a sample of the batch and applied to all of it, then done + aggregates + alerts,
    in one transaction (the discovered themes are named from the catalogue inside it); the new alerts.

    `hold` is called at the start of both transactions: whoever can no longer hold the batch stops there
    without writing, so two callers finishing one batch complete it once.
    """
    core = analyzer.core
    with factory() as session, session.begin():
        batch = hold(session)
        batch.phase = "themes"
        batch.updated_at = _now()
    sample = core.sampler()
    for chunk in stored_results(factory, batch_id):
        for _, result in chunk:
            sample.offer(result)
    fit = core.fit_themes(sample.values)
    now = _now()
    labels: Counter[str] = Counter()
    with factory() as session, session.begin():
        batch = hold(session)
        fit, catalog = fit.named(load_catalog(session))
        for chunk in stored_results(factory, batch_id):
            themed = fit.apply([r for _, r in chunk])
            labels.update(r.sentiment.label for r in themed)
            session.execute(
                update(Item),
                [
                    {
                        "id": item_id,
                        "result": r.to_dict(),
                        "top_theme": column_text(r.top_theme, 64) if r.top_theme else None,
                    }
                    for (item_id, _), r in zip(chunk, themed, strict=True)
                ],
            )
        batch.themes = themes_json(fit.themes)
        batch.labels = dict(labels)
        batch.status = batch.phase = "done"
        batch.finished_at = batch.updated_at = now
        batch.worker = batch.lease_until = None
        session.flush()
        add_batch(session, batch_id)
        names = theme_labels(analyzer.taxonomy.themes, catalog.themes, fit.themes)
        raised = evaluate_after_batch(session, batch_id, analyzer.rules, now, names)
    log.info("batch %s done: %s items, %s new alert(s)", batch_id, sample.seen, len(raised))
    drop_upload(settings, factory, batch_id)
    heap.trim()
    return raised


def fail_batch(factory: sessionmaker[Session], settings: Settings, batch_id: int, message: str) -> None:
    """Mark the batch failed with `message` (its committed rows stay; uploading the file again resumes it)."""
    log.warning("batch %s failed: %s", batch_id, message)
    with factory() as session, session.begin():
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch is not None and batch.status != "done":
            batch.status = batch.phase = "failed"
            batch.error = message
            batch.worker = batch.lease_until = None
            batch.updated_at = _now()
    drop_upload(settings, factory, batch_id)
    heap.trim()


def recover(factory: sessionmaker[Session]) -> int:
    """Give back batches left running by a process that died (single service per database)."""
    with factory() as session, session.begin():
        result = session.execute(
            update(Batch)
            .where(Batch.status == "running")
            .values(status="queued", worker=None, lease_until=None, updated_at=_now())
        )
    return int(getattr(result, "rowcount", 0) or 0)


class Worker(BackgroundLoop):
    """Processes queued batches in a background thread (or step by step with `run_once`)."""

    thread_name = "kesheng-worker"
    stop_timeout = 30.0

    def __init__(
        self,
        factory: sessionmaker[Session],
        analyzer: Analyzer,
        settings: Settings,
        on_items: Callable[[int], None] | None = None,
        on_alerts: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(settings.worker_poll_seconds)
        self.factory = factory
        self.analyzer = analyzer
        self.settings = settings
        self.on_items = on_items
        self.on_alerts = on_alerts
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    # --- jobs -------------------------------------------------------------------------------------
    def claim(self) -> int | None:
        """Take the oldest queued batch (or one whose lease ran out); None when there is none."""
        now = _now()
        claimable = or_(Batch.status == "queued", and_(Batch.status == "running", Batch.lease_until < now))
        with self.factory() as session:
            candidates = session.scalars(select(Batch.id).where(claimable).order_by(Batch.id).limit(8)).all()
        for batch_id in candidates:
            with self.factory() as session, session.begin():
                result = session.execute(
                    update(Batch)
                    .where(Batch.id == batch_id, claimable)
                    .values(
                        status="running",
                        worker=self.name,
                        lease_until=now + timedelta(seconds=self.settings.worker_lease_seconds),
                        attempts=Batch.attempts + 1,
                        updated_at=now,
                    )
                )
            if getattr(result, "rowcount", 0) == 1:
                return batch_id
        return None

    def run_once(self) -> bool:
        """Claim and process one batch; False when there was nothing to do."""
        batch_id = self.claim()
        if batch_id is None:
            return False
        try:
            self.process(batch_id)
        except LeaseLost:
            log.warning("batch %s: lease lost to another worker; leaving it", batch_id)
        except KeshengError as error:
            self._fail(batch_id, str(error))
        except Exception as error:
            log.exception("batch %s failed", batch_id)
            self._fail(batch_id, f"internal error: {type(error).__name__}")
        return True

    def _held(self, session: Session, batch_id: int) -> Batch:
        """The batch, locked for this transaction, if we still hold its lease."""
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch is None or batch.status != "running" or batch.worker != self.name:
            raise LeaseLost(batch_id)
        return batch

    def process(self, batch_id: int) -> None:
        """Analyse the batch's remaining rows chunk by chunk, then finish it."""
        with self.factory() as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                return
            source, processed = BatchInput.of(batch), batch.processed
        rows = islice(batch_rows(load_upload(self.settings, batch_id), source), processed, None)
        size = self.settings.worker_chunk_size
        keys = keyring(self.settings)
        start = processed
        while chunk := list(islice(rows, size)):
            if self._stop.is_set():
                return  # the lease runs out, or recovery at the next start takes the batch back
            stored = analyse_rows(self.analyzer, keys, batch_id, chunk)
            with self.factory() as session, session.begin():
                batch = self._held(session, batch_id)
                if batch.processed != start:
                    raise LeaseLost(batch_id)
                session.execute(insert(Item), stored)
                now = _now()
                batch.processed = start + len(chunk)
                batch.phase = "scoring"
                batch.lease_until = now + timedelta(seconds=self.settings.worker_lease_seconds)
                batch.updated_at = now
            if self.on_items is not None:
                self.on_items(len(chunk))
            start += len(chunk)
        if not self._stop.is_set():
            self.finish(batch_id)

    def finish(self, batch_id: int) -> None:
        """Complete the batch (`finish_batch`) while we hold its lease; tell `on_alerts` of new alerts."""
        raised = finish_batch(
            self.factory, self.analyzer, self.settings, batch_id, lambda session: self._held(session, batch_id)
        )
        if raised and self.on_alerts is not None:
            self.on_alerts()

    def _fail(self, batch_id: int, message: str) -> None:
        fail_batch(self.factory, self.settings, batch_id, message)
