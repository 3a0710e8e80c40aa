"""What the app holds while it runs: settings, database, analyzer, micro-batcher, worker, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.batcher import MicroBatcher
from api.keys import KeyCache
from api.metrics import Metrics
from api.settings import Settings
from nlp.schema import Item, Result


class BatchRunner(Protocol):
    """What runs the uploaded batches: the in-process worker (api.worker.Worker), or the dispatcher that
    hands them to Celery workers (api.distributed.dispatcher.Dispatcher)."""

    @property
    def running(self) -> bool: ...

    def notify(self) -> None:
        """A batch was queued: look at once instead of at the next poll."""


@dataclass
class Services:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    analyzer: Analyzer
    batcher: MicroBatcher[Item, Result]
    metrics: Metrics
    worker: BatchRunner | None = None
    keys: KeyCache = field(default_factory=KeyCache)
