"""What each Celery task does, and the worker process that runs them (`kesheng worker`).

The analysis is api.worker's (`batch_rows`, `analyse_rows`, `finish_batch`, `fail_batch`); the training
is api.training_jobs' (`TrainingRunner.execute`); the webhook POST is api.webhook's. What is added here
is only the bookkeeping that makes redelivery harmless:

- plan (queue batches): the batch's chunks stored once (api.distributed.chunks.plan), the batch marked
  running, one chunk task sent per chunk not done (or the completion, when none is left);
- chunk: the delivery counted, the rows analysed, the items and the chunk's "done" committed together;
  the commit that leaves no chunk pending sends the completion. A chunk that fails is retried after
  task_retry_seconds * 2**(n-1); at its task_max_attempts-th delivery (a lost worker counts) the batch
  fails with the chunk's error;
- finish: themes, aggregates and alerts once (`finish_batch` under the batch's lock while it runs),
  then the webhook pushes;
- train (queue training): the job claimed by a conditional update and run; acknowledged when it
  starts, since a retraining is not repeated behind the user's back (a job left running by a lost
  worker is marked failed when a worker on the training queue starts, as the service does);
- deliver (queue webhooks): one signed POST per task run, retried as a new task with backoff.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.crypto import Keyring, keyring
from api.db import make_engine, session_factory
from api.distributed import chunks
from api.distributed.celery_app import BATCHES, CHUNK, DELIVER, FINISH, PLAN, TRAIN, Broker
from api.settings import Settings
from api.tables import AlertRow, Batch
from api.training_jobs import TrainingRunner
from api.webhook import WebhookTarget, attempt, backoff, recorded, should_retry, target_from_settings
from api.webhooks import pending, pending_alerts, save_deliveries
from api.worker import BatchInput, Row, analyse_rows, batch_rows, fail_batch, finish_batch, load_upload
from models.registry import Registry
from nlp.alerts import Alert
from nlp.config import AnalysisConfig
from nlp.errors import KeshengError

log = logging.getLogger("kesheng.api.tasks")


def error_text(error: Exception) -> str:
    """What a batch's `error` says of `error`: our own errors in full, others by type (as api.worker)."""
    return str(error) if isinstance(error, KeshengError) else f"internal error: {type(error).__name__}"


@dataclass
class _Cursor:
    """A batch's rows read forward: the chunks a worker gets come in order, so one reading serves them."""

    key: tuple[int, str]
    rows: Iterator[Row]
    position: int = 0


class Runtime:
    """What the tasks of one worker process use, made on first use in that process (after the fork:
    a pool process must not share the parent's database connections)."""

    def __init__(self, settings: Settings, config: AnalysisConfig | None, broker: Broker) -> None:
        self.settings, self.config, self.broker = settings, config, broker
        self._factory: sessionmaker[Session] | None = None
        self._pid = 0
        self._cursor: _Cursor | None = None

    @property
    def factory(self) -> sessionmaker[Session]:
        """Sessions on this process's own engine (made again in a process forked after it was made)."""
        if self._factory is None or self._pid != os.getpid():
            self._factory = session_factory(make_engine(self.settings.database_url()))
            self._pid = os.getpid()
        return self._factory

    @cached_property
    def analyzer(self) -> Analyzer:
        from api.model_holder import ModelHolder

        analyzer = Analyzer(self.settings, ModelHolder.for_settings(self.settings), self.config)
        log.info("model %s loaded", analyzer.version)
        return analyzer

    @cached_property
    def keys(self) -> Keyring:
        return keyring(self.settings)

    @cached_property
    def registry(self) -> Registry:
        from api.model_holder import service_registry

        return service_registry(self.settings)

    @cached_property
    def webhook(self) -> WebhookTarget | None:
        from nlp.alerts import load_rules

        if self.settings.rules_path is not None:
            rules = load_rules(self.settings.rules_path)
        else:
            rules = self.config.alerts if self.config is not None and self.config.alerts else load_rules()
        return target_from_settings(rules.webhook)

    def rows(self, taken: chunks.Taken) -> list[Row]:
        """The rows of a taken chunk, read from the batch's upload (forward from the last chunk read)."""
        with self.factory() as session:
            batch = session.get_one(Batch, taken.batch_id)
            source, key, total = BatchInput.of(batch), (batch.id, batch.sha256), batch.total
        cursor, self._cursor = self._cursor, None  # a reading that fails is started again next time
        if cursor is None or cursor.key != key or cursor.position > taken.first:
            cursor = _Cursor(key, batch_rows(load_upload(self.settings, taken.batch_id), source))
        rows = list(islice(islice(cursor.rows, taken.first - cursor.position, None), taken.count))
        cursor.position = taken.first + len(rows)
        if cursor.position < total:
            self._cursor = cursor  # kept for the next chunk; the raw upload is not kept past its last rows
        if len(rows) != taken.count:
            raise KeshengError(
                f"batch {taken.batch_id}: its upload ends before chunk {taken.chunk}'s rows; upload it again"
            )
        return rows

    def forget_rows(self, batch_id: int) -> None:
        """Drop the reading of a batch that needs no more rows (it holds the raw upload)."""
        if self._cursor is not None and self._cursor.key[0] == batch_id:
            self._cursor = None


_RUNTIME: Runtime | None = None


def runtime() -> Runtime:
    if _RUNTIME is None:
        raise RuntimeError("api.distributed.tasks: no runtime; start workers with `kesheng worker`")
    return _RUNTIME


def configure(settings: Settings, config: AnalysisConfig | None = None) -> Runtime:
    """Make the runtime of this worker (its pool processes inherit it) and register the tasks."""
    global _RUNTIME
    _RUNTIME = Runtime(settings, config, Broker(settings))
    register(_RUNTIME.broker)
    return _RUNTIME


# --- the tasks (each called with the bound Celery task, `task`) ----------------------------------------
def plan_task(task: Any, batch_id: int) -> None:
    rt = runtime()
    try:
        todo = _plan(rt, batch_id)
    except Exception as error:
        attempts = int(task.request.retries) + 1
        log.exception("batch %s: planning failed (delivery %s)", batch_id, attempts)
        if attempts >= rt.settings.task_max_attempts:
            fail_batch(rt.factory, rt.settings, batch_id, f"planning the batch failed: {error_text(error)}")
            return
        raise task.retry(countdown=rt.settings.task_retry_seconds * 2 ** (attempts - 1), max_retries=None) from None
    if todo is None:
        return
    log.info("batch %s: %s chunk(s) to analyse", batch_id, len(todo))
    for chunk in todo:
        rt.broker.send(CHUNK, batch_id, chunk)
    if not todo:
        rt.broker.send(FINISH, batch_id)


def _plan(rt: Runtime, batch_id: int) -> list[int] | None:
    """The batch's chunks stored and the batch running; the chunks to send (None: not to be run)."""
    with rt.factory() as session, session.begin():
        batch = session.get(Batch, batch_id, with_for_update=True)
        if batch is None or batch.status not in ("queued", "running"):
            return None
        todo = chunks.plan(session, batch, rt.settings.worker_chunk_size)
        batch.status, batch.phase = "running", "scoring"
        batch.worker = batch.lease_until = None
        batch.updated_at = datetime.now(UTC)
    return todo


def chunk_task(task: Any, batch_id: int, chunk: int) -> None:
    rt = runtime()
    node = str(task.request.hostname or "")
    taken = chunks.take(rt.factory, batch_id, chunk, node)
    if taken is None:
        rt.forget_rows(batch_id)
        _finish_if_complete(rt, batch_id)  # a redelivered last chunk whose worker died before sending it
        return
    limit = rt.settings.task_max_attempts
    if taken.attempts > limit:
        why = taken.error or "its worker was lost or timed out each time"
        message = f"chunk {chunk} (rows {taken.first + 1}-{taken.first + taken.count}) failed {limit} times: {why}"
        chunks.note_error(rt.factory, taken, why, failed=True)
        fail_batch(rt.factory, rt.settings, batch_id, message)
        return
    try:
        stored = analyse_rows(rt.analyzer, rt.keys, batch_id, rt.rows(taken))
        last = chunks.commit(rt.factory, taken, stored, node)
    except Exception as error:
        message = error_text(error)
        if not isinstance(error, KeshengError):
            log.exception("batch %s chunk %s failed (delivery %s)", batch_id, chunk, taken.attempts)
        if taken.attempts >= limit:
            chunks.note_error(rt.factory, taken, message, failed=True)
            fail_batch(rt.factory, rt.settings, batch_id, f"chunk {chunk} failed {limit} times: {message}")
            return
        chunks.note_error(rt.factory, taken, message)
        delay = rt.settings.task_retry_seconds * 2 ** (taken.attempts - 1)
        raise task.retry(countdown=delay, max_retries=None) from None
    if last:
        rt.broker.send(FINISH, batch_id)


def _finish_if_complete(rt: Runtime, batch_id: int) -> None:
    with rt.factory() as session:
        status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
        complete = status == "running" and chunks.pending(session, batch_id) == 0
    if complete:
        rt.broker.send(FINISH, batch_id)


def finish_task(task: Any, batch_id: int) -> None:
    rt = runtime()
    with rt.factory() as session, session.begin():
        try:
            batch = chunks.running(session, batch_id)
        except chunks.NotRunning:
            return  # done already (a redelivery), or failed
        if chunks.pending(session, batch_id):
            return  # not every chunk is in: the last one sends the completion
        batch.attempts += 1
        attempts = batch.attempts
    try:
        finish_batch(rt.factory, rt.analyzer, rt.settings, batch_id, lambda s: chunks.running(s, batch_id))
    except chunks.NotRunning:
        return  # another delivery completed it while this one fitted the themes
    except Exception as error:
        log.exception("batch %s: completion failed (delivery %s)", batch_id, attempts)
        if attempts >= rt.settings.task_max_attempts:
            fail_batch(rt.factory, rt.settings, batch_id, f"completing the batch failed: {error_text(error)}")
            return
        raise task.retry(countdown=rt.settings.task_retry_seconds * 2 ** (attempts - 1), max_retries=None) from None
    if rt.webhook is not None:
        send_pending_alerts(rt.broker, rt.factory)


def send_pending_alerts(broker: Broker, factory: sessionmaker[Session]) -> int:
    """A delivery task for every alert whose current event is not delivered yet; how many were sent."""
    alerts = pending_alerts(factory)
    for alert in alerts:
        broker.send(DELIVER, alert.id)
    return len(alerts)


def train_task(task: Any, job_id: int) -> None:
    rt = runtime()
    runner = TrainingRunner(rt.factory, rt.settings, rt.registry)
    if not runner.claim_job(job_id):
        return  # taken already, or no longer queued
    runner.note(job_id, f"taken by worker {task.request.hostname}")
    runner.execute(job_id)


def deliver_task(task: Any, alert_id: str) -> None:
    rt = runtime()
    target = rt.webhook
    if target is None:
        log.warning("alert %s: no webhook url in this worker's alert rules; not delivered", alert_id)
        return
    with rt.factory() as session:
        row = session.get(AlertRow, alert_id)
        alert = Alert.from_dict(row.data) if row is not None else None
    if alert is None or not pending(alert):
        return
    attempts = int(task.request.retries) + 1
    status, error = attempt(alert, target)
    if should_retry(target, status, attempts):
        raise task.retry(countdown=backoff(target, attempts), max_retries=None)
    if not save_deliveries(rt.factory, recorded(alert, target, status, error, attempts)):
        log.warning("webhook delivery of alert %s failed after %s attempt(s); retried later", alert_id, attempts)


def register(broker: Broker) -> None:
    """Register the tasks on the broker's app (the API only sends them by name)."""
    app = broker.app
    app.task(name=PLAN, bind=True)(plan_task)
    app.task(name=CHUNK, bind=True)(chunk_task)
    app.task(name=FINISH, bind=True)(finish_task)
    app.task(name=TRAIN, bind=True, acks_late=False, reject_on_worker_lost=False)(train_task)
    app.task(name=DELIVER, bind=True)(deliver_task)


def _warm(**_: Any) -> None:
    """Load the model in each new pool process before it takes a task."""
    try:
        runtime().analyzer  # noqa: B018 (loads it)
    except Exception:
        log.exception("loading the model failed; the first task tries again")


def run_worker(settings: Settings, config: AnalysisConfig | None, queues: tuple[str, ...], concurrency: int) -> int:
    """`kesheng worker`: tasks of `queues` in `concurrency` pool processes until stopped; the exit code."""
    from celery.signals import worker_process_init

    rt = configure(settings, config)
    if BATCHES in queues:
        worker_process_init.connect(_warm, weak=False)
    return rt.broker.run_worker(queues, concurrency)
