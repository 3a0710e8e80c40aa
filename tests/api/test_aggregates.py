"""The heatmap and trend kept as aggregates answer as nlp.heatmap does over every stored result: for
each dimension (one no item has, one met only in a later batch), date range and theme, with undated
items, items without a segment, repeated ids; a batch finished twice counts once; wide keys, the
migration's fill of earlier batches, and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api import aggregates, heatmap_db
from api.analysis import Analyzer
from api.db import MIGRATIONS, make_engine, migrate, session_factory
from api.settings import Settings
from api.store import accept_upload, stored_results
from api.tables import Batch, HeatmapBatchDay, HeatmapCell, HeatmapDimension, HeatmapExample
from api.worker import Worker
from nlp.heatmap import build_heatmap, build_trend
from tests.api.conftest import TRANSCRIPTS_JSONL, Service, survey_csv
from tests.api.test_postgres import cluster, pg_url  # noqa: F401  (fixtures)

# A later export with a segment the first ones lack (门店 as `store`), one answer without a date, one
# without a tier, and two across the new year (2027-01-02 is in ISO week 2026-W53).
STORES = (
    "编号,回答,客户等级,store,日期\n"
    "U01,物流太慢了，等了一个星期才到,钻石,徐汇店,\n"
    "U02,客服态度很好，问题很快解决了,,静安店,2026-11-10\n"
    "U03,退款一直不到账，太失望了,黄金,徐汇店,2026-11-20\n"
    "U04,快递员把包裹扔在门口，太差了,白银,,2026-11-04\n"
    "U05,发票开错了，重新开要等一周,黄金,静安店,2027-01-02\n"
    "U06,安装师傅很准时，服务周到,钻石,徐汇店,2027-01-05\n"
).encode()
DIMENSIONS = ["tier", "channel", "region", "product", "week", "date", "nps", "store", "colour"]
FILTERS = [  # ranges within a week, of whole weeks, and of whole weeks with days at either end
    (None, None, None),
    ("2026-11-04", "2026-11-05", None),
    ("2026-11-03", None, None),
    (None, "2026-11-04", None),
    ("2026-11-02", "2026-11-15", None),
    ("2026-11-03", "2026-11-20", None),
    ("2026-11-05", None, None),
    (None, "2026-11-12", None),
    ("2026-12-30", "2027-01-06", None),
    (None, None, "logistics"),
    (None, None, "unassigned"),
    ("2026-11-01", "2026-11-30", "logistics"),
]


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document with mean scores set apart: a cell's score sum is added in another order there, so
    it may differ in the last bits (pytest.approx), everything else must be equal."""
    cells = [{k: v for k, v in c.items() if k != "mean_score"} for c in document.get("cells", [])]
    return {**document, "cells": cells}


def _means(document: dict[str, Any]) -> list[float]:
    return [c["mean_score"] for c in document.get("cells", [])]


def assert_same_as_the_results(session: Session) -> None:
    for date_from, date_to, theme in FILTERS:
        results, themes = stored_results(session, date_from, date_to, theme)
        for dimension in DIMENSIONS:
            expected = build_heatmap(results, themes, dimension).to_dict()
            got = heatmap_db.heatmap(session, dimension, date_from, date_to, theme).to_dict()
            where = (dimension, date_from, date_to, theme)
            assert _comparable(got) == _comparable(expected), where
            assert _means(got) == pytest.approx(_means(expected), abs=1e-12), where
        assert heatmap_db.trend(session, date_from, date_to, theme).to_dict() == build_trend(results, themes).to_dict()


def _analyse(factory: sessionmaker[Session], worker: Worker, content: bytes, name: str) -> int:
    accepted = accept_upload(factory, content, name, kind=None, columns=None, max_rows=100, max_item_chars=1000)
    while worker.run_once():
        pass
    with factory() as session:
        assert session.get_one(Batch, accepted.batch.id).status == "done"
    return accepted.batch.id


def _load(factory: sessionmaker[Session], analyzer: Analyzer, tmp_path: Path) -> Worker:
    worker = Worker(factory, analyzer, Settings(data_dir=tmp_path, lexicon=True, worker_chunk_size=4))
    _analyse(factory, worker, survey_csv(), "回访.csv")
    _analyse(factory, worker, TRANSCRIPTS_JSONL, "calls.jsonl")
    _analyse(factory, worker, STORES, "门店.csv")
    # The same answers again (other bytes, so another batch): equal ids and probabilities tie in a cell.
    _analyse(factory, worker, survey_csv(encoding="utf-8"), "回访-utf8.csv")
    return worker


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _cells(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    """Every aggregate row, without its id."""
    with factory() as session:
        rows: list[tuple[Any, ...]] = []
        for table in (HeatmapCell, HeatmapExample):
            columns = [c for c in table.__table__.columns if c.name != "id"]
            rows += [tuple(r) for r in session.execute(select(*columns).order_by(table.id))]
        return rows


def test_the_aggregates_answer_as_the_stored_results_do(
    factory: sessionmaker[Session], analyzer: Analyzer, tmp_path: Path
) -> None:
    _load(factory, analyzer, tmp_path)
    with factory() as session:
        assert_same_as_the_results(session)
        tiers = heatmap_db.heatmap(session, "tier")
        assert tiers.items == 7 + 2 + 6 + 7
        assert "未知" in tiers.columns, "U02 has no tier"
        weeks = heatmap_db.heatmap(session, "week")
        assert weeks.columns[-1] == "未知", "U01 has no date"
        stores = heatmap_db.heatmap(session, "store")
        assert set(stores.columns) == {"徐汇店", "静安店", "未知"}
        unknown = sum(c.count for c in stores.cells if c.column == "未知")
        assert unknown == 7 + 2 + 1 + 7, "the batches before 门店.csv, and U04, have no store"
        logistics = heatmap_db.heatmap(session, "tier", theme="logistics")
        assert logistics.cells and {c.theme for c in logistics.cells} == {"logistics"}
        assert any("物流" in text for c in logistics.cells for text in c.examples)


def test_a_batch_finished_twice_is_counted_once(
    factory: sessionmaker[Session], analyzer: Analyzer, tmp_path: Path
) -> None:
    worker = _load(factory, analyzer, tmp_path)
    before = _cells(factory)
    with factory() as session, session.begin():
        assert aggregates.add_batch(session, 1) == 0, "already added"
    # The worker's finish once more (as a retry would): the batch is done again, nothing is added.
    with factory() as session, session.begin():
        batch = session.get_one(Batch, 1)
        batch.status, batch.worker = "running", worker.name
    worker.finish(1)
    assert _cells(factory) == before
    with factory() as session:
        assert session.get_one(Batch, 1).status == "done"
        total = session.scalar(select(func.sum(HeatmapBatchDay.items)).where(HeatmapBatchDay.batch_id == 1))
        assert total == 7
        assert heatmap_db.heatmap(session, "tier").items == 22
        assert_same_as_the_results(session)


def test_a_key_with_too_many_values_is_read_from_the_items(
    factory: sessionmaker[Session], analyzer: Analyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregates, "WIDE_VALUES", 2)
    _load(factory, analyzer, tmp_path)  # 门店.csv brings two stores: still a segment
    with factory() as session:
        assert session.get_one(HeatmapDimension, "store").wide is False
    more = "编号,回答,store,日期\nV01,发票一直没开，催了好几次,浦东店,2026-11-12\n".encode()
    worker = Worker(factory, analyzer, Settings(data_dir=tmp_path, lexicon=True))
    _analyse(factory, worker, more, "more.csv")
    with factory() as session:
        assert session.get_one(HeatmapDimension, "store").wide is True
        stored = session.scalar(select(func.count()).select_from(HeatmapCell).where(HeatmapCell.dimension == "store"))
        assert stored == 0, "a wide key's rows are dropped"
        assert_same_as_the_results(session)


def test_the_migration_fills_the_aggregates_of_earlier_batches(
    factory: sessionmaker[Session], analyzer: Analyzer, tmp_path: Path
) -> None:
    _load(factory, analyzer, tmp_path)
    before = _cells(factory)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = factory.kw["bind"]
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    migrate(engine)
    assert _cells(factory) == before
    with factory() as session:
        assert_same_as_the_results(session)


def test_the_heatmap_route_reads_the_aggregates(service: Service) -> None:
    headers = service.key("analyst")
    for name, content in (("survey.csv", survey_csv()), ("门店.csv", STORES)):
        batch_id = service.client.post("/v1/batches", files={"file": (name, content)}, headers=headers).json()["id"]
        assert service.wait(batch_id, headers)["status"] == "done"
    with service.services.factory() as session:
        results, themes = stored_results(session, "2026-11-02", "2026-11-10")
        expected = build_heatmap(results, themes, "store").to_dict()
        trend = build_trend(*stored_results(session)).to_dict()
    got = service.client.get("/v1/heatmap?dimension=store&from=2026-11-02&to=2026-11-10", headers=headers).json()
    assert _comparable(got) == _comparable(expected)
    assert _means(got) == pytest.approx(_means(expected), abs=1e-4)  # rounded to 4 places in both
    assert service.client.get("/v1/trend", headers=headers).json() == trend


def test_the_aggregates_answer_alike_on_postgresql(pg_url: str, analyzer: Analyzer, tmp_path: Path) -> None:  # noqa: F811
    engine = make_engine(pg_url)
    migrate(engine)
    factory = session_factory(engine)
    _load(factory, analyzer, tmp_path)
    with factory() as session, session.begin():
        assert aggregates.add_batch(session, 1) == 0
    with factory() as session:
        assert_same_as_the_results(session)
    engine.dispose()
