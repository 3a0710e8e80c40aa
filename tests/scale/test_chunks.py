"""A batch's chunks on PostgreSQL, without a broker: planned once, a chunk committed twice stores its
rows once, of chunk commits racing exactly one sees the batch complete, and of two completions racing
one completes it (aggregates added once) while the other stops without writing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.crypto import keyring
from api.db import make_engine, migrate, session_factory
from api.distributed import chunks
from api.settings import Settings
from api.store import accept_upload
from api.tables import Batch, BatchChunk, HeatmapBatchDay, Item
from api.worker import BatchInput, analyse_rows, batch_rows, finish_batch, load_upload
from tests.api.conftest import LEGAL_THREAT, SURVEY_ROWS, survey_csv
from tests.scale.conftest import new_database

ROWS = [r for r in SURVEY_ROWS if r[1]] + [LEGAL_THREAT]  # 8 answers with a text


@pytest.fixture
def setup(pg_cluster: str, tmp_path: Path) -> Iterator[tuple[Settings, sessionmaker[Session], int]]:
    settings = Settings(data_dir=tmp_path, db_url=new_database(pg_cluster), worker_chunk_size=3)
    engine = make_engine(settings.db_url)
    migrate(engine)
    factory = session_factory(engine)
    batch_id = accept_upload(factory, settings, survey_csv(ROWS), "回访.csv", kind=None, columns=None).batch.id
    yield settings, factory, batch_id
    engine.dispose()


def _plan(factory: sessionmaker[Session], batch_id: int, size: int) -> list[int]:
    with factory() as session, session.begin():
        batch = session.get_one(Batch, batch_id, with_for_update=True)
        todo = chunks.plan(session, batch, size)
        batch.status = "running"
    return todo


def _analysed(
    settings: Settings, factory: sessionmaker[Session], analyzer: Analyzer, batch_id: int
) -> list[tuple[chunks.Taken, list[dict[str, object]]]]:
    """Every chunk taken and analysed (not yet committed), with the real model."""
    with factory() as session:
        source = BatchInput.of(session.get_one(Batch, batch_id))
    rows = list(batch_rows(load_upload(settings, batch_id), source))
    work = []
    with factory() as session:
        planned = list(session.scalars(select(BatchChunk).where(BatchChunk.batch_id == batch_id)))
    for chunk in sorted(planned, key=lambda c: c.chunk):
        taken = chunks.take(factory, batch_id, chunk.chunk, "test-node")
        assert taken is not None and taken.attempts == 1
        part = rows[taken.first : taken.first + taken.count]
        work.append((taken, analyse_rows(analyzer, keyring(settings), batch_id, part)))
    return work


def _items(factory: sessionmaker[Session], batch_id: int) -> list[int]:
    with factory() as session:
        return list(session.scalars(select(Item.row_index).where(Item.batch_id == batch_id).order_by(Item.row_index)))


def test_a_chunk_committed_twice_stores_its_rows_once(
    setup: tuple[Settings, sessionmaker[Session], int], model_analyzer: Analyzer
) -> None:
    settings, factory, batch_id = setup
    assert _plan(factory, batch_id, 3) == [0, 1, 2]
    assert _plan(factory, batch_id, 3) == [0, 1, 2], "planned again: the same chunks, none added"
    (first, stored), *_others = _analysed(settings, factory, model_analyzer, batch_id)
    assert chunks.commit(factory, first, stored, "a") is False, "two chunks remain"
    assert chunks.commit(factory, first, stored, "b") is None, "a redelivered chunk writes nothing"
    assert chunks.take(factory, batch_id, first.chunk, "c") is None, "and is not taken again"
    assert _items(factory, batch_id) == [0, 1, 2]
    with factory() as session:
        assert session.get_one(Batch, batch_id).processed == 3
        assert session.get_one(BatchChunk, (batch_id, 0)).worker == "a"
    # Planned again while running (a sweep after lost messages): only the chunks not done.
    assert _plan(factory, batch_id, 3) == [1, 2]


def test_of_racing_commits_one_sees_the_batch_complete_and_it_completes_once(
    setup: tuple[Settings, sessionmaker[Session], int], model_analyzer: Analyzer
) -> None:
    settings, factory, batch_id = setup
    _plan(factory, batch_id, 3)
    work = _analysed(settings, factory, model_analyzer, batch_id)
    url = settings.db_url
    # Every chunk committed twice (a redelivery of each), all at once, each commit on its own connection.
    engines = [make_engine(url) for _ in range(2 * len(work))]
    together = threading.Barrier(len(engines))
    outcomes: list[bool | None] = []

    def commit(engine_index: int) -> None:
        taken, stored = work[engine_index % len(work)]
        together.wait(30)
        outcomes.append(chunks.commit(session_factory(engines[engine_index]), taken, stored, "racer"))

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes, key=repr) == sorted([True, False, False, None, None, None], key=repr)
    assert _items(factory, batch_id) == list(range(len(ROWS)))

    # Two completions at once (the last chunk's, and a redelivered one): one completes, one stops.
    finished: list[str] = []

    def finish(engine_index: int) -> None:
        own = session_factory(engines[engine_index])
        try:
            finish_batch(own, model_analyzer, settings, batch_id, lambda s: chunks.running(s, batch_id))
            finished.append("completed")
        except chunks.NotRunning:
            finished.append("stopped")

    racers = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
    for thread in racers:
        thread.start()
    for thread in racers:
        thread.join(120)
    assert sorted(finished) == ["completed", "stopped"]
    with factory() as session:
        batch = session.get_one(Batch, batch_id)
        added = session.scalar(select(func.sum(HeatmapBatchDay.items)).where(HeatmapBatchDay.batch_id == batch_id))
    assert batch.status == "done" and batch.processed == len(ROWS) and added == len(ROWS)
    for engine in engines:
        engine.dispose()
