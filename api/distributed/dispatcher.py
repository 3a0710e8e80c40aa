"""The API's side of a scaled-out deployment: queued work handed to the broker, lost work sent again.

One thread per API process, where the in-process worker and training runner would be (it answers their
`notify()` and `running`, so uploads and training jobs reach it the same way). Each round:
- a queued batch gets a plan task; a conditional UPDATE (its `lease_until` set to now +
  broker_redispatch_seconds) lets one API process send it, and sends it again only after that long;
- a queued training job gets a training task (again after broker_redispatch_seconds while still queued);
- every broker_redispatch_seconds / 4: while no message waits in the batches queue, a running batch
  without progress for broker_redispatch_seconds is planned again (its tasks were lost with the broker's
  data: the plan sends its pending chunks, or its completion, again; what was done stays done);
- every webhook_interval_seconds, a delivery task for each alert not delivered yet (retries of pushes
  that failed, as api.webhooks does in process).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.background import BackgroundLoop
from api.distributed.celery_app import BATCHES, PLAN, TRAIN, Broker
from api.distributed.tasks import send_pending_alerts
from api.settings import Settings
from api.tables import Batch, TrainingJob
from api.webhook import WebhookTarget

log = logging.getLogger("kesheng.api.dispatcher")
# Queued batches handed to the broker in one round.
ROUND_LIMIT = 100


class Dispatcher(BackgroundLoop):
    """Sends the database's queued work to the Celery workers (a round at each poll, or when notified)."""

    thread_name = "kesheng-dispatcher"

    def __init__(
        self,
        factory: sessionmaker[Session],
        broker: Broker,
        settings: Settings,
        webhook: WebhookTarget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings.worker_poll_seconds)
        self.factory, self.broker, self.settings, self.webhook, self.clock = factory, broker, settings, webhook, clock
        self._trained: dict[int, float] = {}
        self._last_sweep = self._last_push = -math.inf
        self._push_started = clock()

    def run_once(self) -> bool:
        self.dispatch_batches()
        if self.settings.training:
            self.dispatch_training()
        now = self.clock()
        if now - self._last_sweep >= self.settings.broker_redispatch_seconds / 4:
            self._last_sweep = now
            self.sweep()
        if self.webhook is not None and now - max(self._last_push, self._push_started) >= (
            self.settings.webhook_interval_seconds
        ):
            self._last_push = now
            send_pending_alerts(self.broker, self.factory)
        return False  # the next round at the next poll, or when notified of new work

    def dispatch_batches(self) -> int:
        """Send a plan task for each queued batch not sent within broker_redispatch_seconds; how many."""
        now = datetime.now(UTC)
        due = or_(Batch.lease_until.is_(None), Batch.lease_until < now)
        with self.factory() as session:
            ids = session.scalars(
                select(Batch.id).where(Batch.status == "queued", due).order_by(Batch.id).limit(ROUND_LIMIT)
            ).all()
        sent = 0
        for batch_id in ids:
            with self.factory() as session, session.begin():
                won = session.execute(
                    update(Batch)
                    .where(Batch.id == batch_id, Batch.status == "queued", due)
                    .values(lease_until=now + timedelta(seconds=self.settings.broker_redispatch_seconds))
                )
            if getattr(won, "rowcount", 0) != 1:
                continue  # another API process sent it
            try:
                self.broker.send(PLAN, batch_id)
            except Exception:
                with self.factory() as session, session.begin():  # the next round tries again
                    session.execute(
                        update(Batch).where(Batch.id == batch_id, Batch.status == "queued").values(lease_until=None)
                    )
                raise
            sent += 1
        if sent:
            log.info("%s batch(es) sent to the workers", sent)
        return sent

    def dispatch_training(self) -> int:
        """Send a training task for each queued job not sent within broker_redispatch_seconds; how many."""
        with self.factory() as session:
            queued = set(session.scalars(select(TrainingJob.id).where(TrainingJob.status == "queued")).all())
        self._trained = {job: at for job, at in self._trained.items() if job in queued}
        sent = 0
        for job_id in sorted(queued):
            if self.clock() - self._trained.get(job_id, -math.inf) < self.settings.broker_redispatch_seconds:
                continue
            self.broker.send(TRAIN, job_id)
            self._trained[job_id] = self.clock()
            sent += 1
        return sent

    def sweep(self) -> int:
        """Plan again the running batches that made no progress for broker_redispatch_seconds while the
        batches queue is empty (their tasks were lost); how many."""
        now = datetime.now(UTC)
        stale = now - timedelta(seconds=self.settings.broker_redispatch_seconds)
        with self.factory() as session:
            ids = session.scalars(
                select(Batch.id).where(Batch.status == "running", Batch.updated_at < stale).order_by(Batch.id)
            ).all()
        if not ids or self.broker.waiting(BATCHES) > 0:
            return 0
        sent = 0
        for batch_id in ids:
            with self.factory() as session, session.begin():
                won = session.execute(
                    update(Batch)
                    .where(Batch.id == batch_id, Batch.status == "running", Batch.updated_at < stale)
                    .values(updated_at=now)
                )
            if getattr(won, "rowcount", 0) == 1:
                log.warning(
                    "batch %s: no progress for %.0f s; its tasks are sent again",
                    batch_id,
                    self.settings.broker_redispatch_seconds,
                )
                self.broker.send(PLAN, batch_id)
                sent += 1
        return sent
