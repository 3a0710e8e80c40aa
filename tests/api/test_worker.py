"""The durable job table: chunks committed with progress, a stopped worker resumed without loss or
duplicates, a batch held by a live lease left alone, a failed batch retried by uploading it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.db import make_engine, migrate, session_factory
from api.settings import Settings
from api.staging import is_staged
from api.store import accept_upload
from api.tables import Batch, Item
from api.worker import LeaseLost, Worker, recover
from tests.api.conftest import survey_csv

ROWS = [
    (f"D{i:03d}", f"物流太慢了，第{i}次催单", "黄金", "APP", "华东", "净水器", "2026-11-03", "4") for i in range(20)
]


def _setup(tmp_path: Path, analyzer: Analyzer, chunk: int = 3) -> tuple[Settings, sessionmaker[Session], int]:
    settings = Settings(data_dir=tmp_path, lexicon=True, worker_chunk_size=chunk)
    engine = make_engine(settings.database_url())
    migrate(engine)
    factory = session_factory(engine)
    accepted = accept_upload(
        factory, settings, survey_csv(ROWS), "d.csv", kind=None, columns=None, max_rows=100, max_item_chars=1000
    )
    return settings, factory, accepted.batch.id


def _state(factory: sessionmaker[Session], batch_id: int) -> tuple[str, int, int, int]:
    with factory() as session:
        batch = session.get_one(Batch, batch_id)
        items = session.scalar(select(func.count()).select_from(Item).where(Item.batch_id == batch_id))
        distinct = session.scalar(select(func.count(func.distinct(Item.row_index))).where(Item.batch_id == batch_id))
        return batch.status, batch.processed, items or 0, distinct or 0


def test_a_stopped_worker_is_resumed_without_losing_or_repeating_rows(tmp_path: Path, analyzer: Analyzer) -> None:
    settings, factory, batch_id = _setup(tmp_path, analyzer)
    first = Worker(factory, analyzer, settings)
    seen: list[int] = []

    def stop_after_two_chunks(count: int) -> None:
        seen.append(count)
        if len(seen) == 2:
            first._stop.set()  # as if the process went away between chunks

    first.on_items = stop_after_two_chunks
    assert first.run_once()
    assert _state(factory, batch_id) == ("running", 6, 6, 6)

    assert recover(factory) == 1  # the next start takes the batch back at once
    second = Worker(factory, analyzer, settings)
    assert second.run_once()
    assert _state(factory, batch_id) == ("done", 20, 20, 20)
    with factory() as session:
        rows = session.scalars(select(Item.row_index).where(Item.batch_id == batch_id).order_by(Item.row_index))
        assert list(rows) == list(range(20))
        assert session.get_one(Batch, batch_id).attempts == 2
    assert not is_staged(settings, batch_id)
    assert not second.run_once(), "nothing left to do"


def test_a_batch_with_a_live_lease_is_not_taken_over(tmp_path: Path, analyzer: Analyzer) -> None:
    settings, factory, batch_id = _setup(tmp_path, analyzer)
    holder = Worker(factory, analyzer, settings)
    assert holder.claim() == batch_id
    other = Worker(factory, analyzer, settings)
    assert other.claim() is None
    with factory() as session, session.begin():
        session.get_one(Batch, batch_id).lease_until = datetime.now(UTC) - timedelta(seconds=1)
    assert other.claim() == batch_id, "an expired lease is taken over"
    with pytest.raises(LeaseLost):
        holder.process(batch_id)  # the old holder must not write any more
    assert _state(factory, batch_id) == ("running", 0, 0, 0)


def test_a_failed_batch_is_retried_by_uploading_it_again(tmp_path: Path, analyzer: Analyzer) -> None:
    settings, factory, batch_id = _setup(tmp_path, analyzer)
    worker = Worker(factory, analyzer, settings)
    worker._fail(batch_id, "disk full")
    assert not is_staged(settings, batch_id), "the raw upload is not kept past the job"
    again = accept_upload(
        factory,
        settings,
        survey_csv(ROWS),
        "d.csv",
        kind=None,
        columns=None,
        max_rows=100,
        max_item_chars=1000,
    )
    assert again.duplicate and again.batch.id == batch_id and again.batch.status == "queued"
    assert worker.run_once()
    assert _state(factory, batch_id) == ("done", 20, 20, 20)


def test_the_heap_is_trimmed_when_a_batch_ends_done_or_failed(
    tmp_path: Path, analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a batch freed goes back to the system at its end, so a long-running service does not creep."""
    import api.heap

    trims: list[str] = []

    def trim() -> bool:
        trims.append("trim")
        return True

    monkeypatch.setattr(api.heap, "trim", trim)
    settings, factory, batch_id = _setup(tmp_path, analyzer)
    worker = Worker(factory, analyzer, settings)
    worker.on_items = lambda _count: trims.append("chunk")
    assert worker.run_once()
    assert _state(factory, batch_id)[0] == "done"
    assert trims[-1] == "trim" and trims.count("trim") == 1, "once, after the last chunk"

    import api.worker
    from nlp.errors import ModelError

    def broken(*_args: object) -> None:
        raise ModelError("the model file is unreadable")

    monkeypatch.setattr(api.worker, "analyse_rows", broken)
    other = [(f"E{i:03d}", "客服态度很好", "白银", "电话", "华南", "空调", "2026-11-04", "9") for i in range(5)]
    accepted = accept_upload(factory, settings, survey_csv(other), "e.csv", kind=None, columns=None)
    assert worker.run_once()
    with factory() as session:
        assert session.get_one(Batch, accepted.batch.id).status == "failed"
    assert trims.count("trim") == 2


def test_trim_returns_the_c_heap_on_glibc() -> None:
    import platform

    from api.heap import trim

    assert trim() is (platform.libc_ver()[0] == "glibc")
