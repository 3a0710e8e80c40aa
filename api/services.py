"""What the app holds while it runs: settings, database, analyzer, micro-batcher, worker, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.batcher import MicroBatcher
from api.keys import KeyCache
from api.metrics import Metrics
from api.settings import Settings
from api.worker import Worker
from nlp.schema import Item, Result


@dataclass
class Services:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    analyzer: Analyzer
    batcher: MicroBatcher[Item, Result]
    metrics: Metrics
    worker: Worker | None = None
    keys: KeyCache = field(default_factory=KeyCache)
