"""The batch worker: durable jobs from the `batches` table, processed in committed chunks.

A batch is claimed with a lease (a conditional UPDATE, so two workers never hold one batch). Its
items are analysed `worker_chunk_size` at a time; each chunk's items and the batch's new `processed`
count are committed in ONE transaction, and (batch_id, row_index) is unique. A process killed
mid-batch therefore loses at most the chunk it had not committed; the next claim re-reads the stored
upload and continues at `processed`, so no row is lost and none is stored twice. When every item is
in, the batch's demand themes are fitted, the items updated, the upload deleted, the batch marked
done and the alert rules run (and the batch's answers to call back listed) — all in one final transaction.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.aggregates import add_batch
from api.alerts_db import evaluate_after_batch
from api.analysis import Analyzer
from api.background import BackgroundLoop
from api.settings import Settings
from api.store import column_text, item_row, themes_json
from api.tables import Batch, BatchUpload, Item
from api.themes_db import load_catalog
from nlp.alerts import theme_labels
from nlp.errors import KeshengError
from nlp.readers import iter_bytes
from nlp.schema import Result, result_from_dict

log = logging.getLogger("kesheng.api.worker")

# Stored results read back at a time when a batch is finished (themes applied, rows updated).
FINISH_CHUNK = 1000


class LeaseLost(Exception):
    """Another worker took the batch over (our lease ran out); stop without writing."""


def _now() -> datetime:
    return datetime.now(UTC)


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
            upload = session.get(BatchUpload, batch_id)
            if batch is None:
                return
            if upload is None:
                raise KeshengError(f"batch {batch_id}: its uploaded file is missing; upload it again")
            skipped = set(batch.report.get("skipped", []))
            kind, columns, filename, processed = batch.kind, batch.columns, batch.filename, batch.processed
            content = upload.content
        # The upload was validated when it was accepted; it is read again as a stream, a chunk at a time.
        stream = iter_bytes(content, filename, kind=kind, columns=columns or None)  # type: ignore[arg-type]
        rows = islice(((index, item) for index, item in enumerate(stream) if index not in skipped), processed, None)
        size = self.settings.worker_chunk_size
        start = processed
        while chunk := list(islice(rows, size)):
            if self._stop.is_set():
                return  # the lease runs out, or recovery at the next start takes the batch back
            results = self.analyzer.analyse([item for _, item in chunk])
            with self.factory() as session, session.begin():
                batch = self._held(session, batch_id)
                if batch.processed != start:
                    raise LeaseLost(batch_id)
                session.execute(
                    insert(Item),
                    [item_row(index, batch_id, r) for (index, _), r in zip(chunk, results, strict=True)],
                )
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

    def _stored(self, batch_id: int) -> Iterator[list[tuple[int, Result]]]:
        """The batch's stored results in row order, a chunk at a time (bounded memory)."""
        after = -1
        while True:
            with self.factory() as session:
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

    def finish(self, batch_id: int) -> None:
        """Themes fitted on a sample of the batch and applied to all of it, then done + alerts, in one
        transaction (the discovered themes are named from the catalogue inside it)."""
        core = self.analyzer.core
        with self.factory() as session, session.begin():
            batch = self._held(session, batch_id)
            batch.phase = "themes"
            batch.updated_at = _now()
        sample = core.sampler()
        for chunk in self._stored(batch_id):
            for _, result in chunk:
                sample.offer(result)
        fit = core.fit_themes(sample.values)
        now = _now()
        labels: Counter[str] = Counter()
        with self.factory() as session, session.begin():
            batch = self._held(session, batch_id)
            fit, catalog = fit.named(load_catalog(session))
            for chunk in self._stored(batch_id):
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
            upload = session.get(BatchUpload, batch_id)
            if upload is not None:
                session.delete(upload)
            session.flush()
            add_batch(session, batch_id)
            names = theme_labels(self.analyzer.taxonomy.themes, catalog.themes, fit.themes)
            raised = evaluate_after_batch(session, batch_id, self.analyzer.rules, now, names)
        log.info("batch %s done: %s items, %s new alert(s)", batch_id, sample.seen, len(raised))
        if raised and self.on_alerts is not None:
            self.on_alerts()

    def _fail(self, batch_id: int, message: str) -> None:
        log.warning("batch %s failed: %s", batch_id, message)
        with self.factory() as session, session.begin():
            batch = session.get(Batch, batch_id)
            if batch is not None:
                batch.status = batch.phase = "failed"
                batch.error = message
                batch.worker = batch.lease_until = None
                batch.updated_at = _now()
                # The raw upload is not kept past the job; uploading the file again retries the batch.
                upload = session.get(BatchUpload, batch_id)
                if upload is not None:
                    session.delete(upload)
