"""The heatmap and trend kept as aggregates answer as nlp.heatmap does over every stored result: for
each dimension (one no item has, one met only in a later batch), date range and theme, with undated
items, items without a segment, repeated ids, answers with several aspect mentions (of one theme and
of several, with their own polarity), answers stored before aspects existed; a batch finished twice
counts once; wide keys, the migration's fill of earlier batches, and PostgreSQL alike."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from api import aggregates, heatmap_db
from api.analysis import Analyzer
from api.db import MIGRATIONS, make_engine, migrate, session_factory
from api.settings import Settings
from api.store import accept_upload, item_row, stored_results
from api.tables import Batch, HeatmapBatchDay, HeatmapCell, HeatmapDimension, HeatmapExample, Item
from api.worker import Worker
from nlp.heatmap import build_heatmap, build_trend
from nlp.schema import Aspect, Label, Result, Sentiment
from nlp.themes import Theme
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
    (None, None, "taste"),
    (None, None, "D01"),
    (None, None, "unassigned"),
    ("2026-11-01", "2026-11-30", "logistics"),
]
PROBABILITY: dict[Label, float] = {"negative": 0.9, "neutral": 0.5, "positive": 0.1}


def _unit(text: str, theme: str | None, label: Label, p: float | None = None) -> Aspect:
    p = PROBABILITY[label] if p is None else p
    return Aspect(text, 0, len(text), "", "", Sentiment(label, 1 - 2 * p, p, "t"), theme=theme)


def _answer(id: str, units: list[Aspect], **meta: str) -> Result:
    worst = max(units, key=lambda u: u.sentiment.negative_probability)
    themes = tuple(dict.fromkeys(u.theme for u in units if u.theme))
    text = "，".join(u.text for u in units)
    return Result(id, "survey", text, worst.sentiment, themes=themes, meta=meta, aspects=tuple(units))


# Restaurant delivery answers as the aspect step reads them: a mixed review, three complaints about one
# theme in one answer, a discovered demand, a unit repeated across answers, an answer whose units have
# no theme, one stored before aspects existed (themes, no aspects), one across the new year.
ASPECT_THEMES = [Theme("taste", "口味", ("味道", "好吃")), Theme("D01", "分量·少", ("分量",), discovered=True)]
ASPECTS = [
    _answer(
        "A01",
        [_unit("味道不错", "taste", "positive", 0.08), _unit("但是送餐太慢了", "logistics", "negative", 0.93)],
        tier="黄金", store="徐汇店", date="2026-11-03",
    ),
    _answer(
        "A02",
        [
            _unit("送餐太慢了", "logistics", "negative", 0.91),
            _unit("骑手还不接电话", "logistics", "negative", 0.95),
            _unit("等了一个多小时", "logistics", "negative", 0.88),
        ],
        tier="钻石", date="2026-11-04",
    ),
    _answer(
        "A03",
        [_unit("价格有点贵", "price", "negative", 0.7), _unit("分量太少了", "D01", "negative", 0.9)],
        tier="白银", store="静安店", date="2026-11-05",
    ),
    _answer("A04", [_unit("送餐太慢了", "logistics", "negative", 0.91)], tier="基础", date="2026-11-20"),
    _answer("A05", [_unit("还行吧", None, "neutral")], store="徐汇店"),
    Result(
        "A06", "survey", "物流太慢了", Sentiment("negative", -0.8, 0.9, "t"), themes=("logistics",),
        meta={"tier": "黄金", "date": "2026-12-30"},
    ),
    _answer(
        "A07",
        [_unit("服务员态度很好", "service", "positive", 0.05), _unit("菜上得也快", "logistics", "positive", 0.1)],
        tier="钻石", date="2027-01-02",
    ),
]  # fmt: skip


def _store(factory: sessionmaker[Session], results: list[Result], themes: list[Theme], name: str) -> int:
    """A completed batch of these results, added to the aggregates as the worker's finish adds one."""
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        batch = Batch(
            sha256=hashlib.sha256(name.encode()).hexdigest(),
            filename=name,
            status="done",
            phase="done",
            total=len(results),
            processed=len(results),
            themes=[t.to_dict() for t in themes],
            created_at=now,
            updated_at=now,
            finished_at=now,
        )
        session.add(batch)
        session.flush()
        session.execute(insert(Item), [item_row(i, batch.id, r) for i, r in enumerate(results)])
        assert aggregates.add_batch(session, batch.id) == len(results)
        return batch.id


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document with mean scores set apart: a cell's score sum is added in another order there, so
    it may differ in the last bits, and a mean on a rounding boundary (-0.67305) may then round to the
    next 4th decimal (pytest.approx, one unit of it); everything else must be equal."""
    cells = [{k: v for k, v in c.items() if k != "mean_score"} for c in document.get("cells", [])]
    return {**document, "cells": cells}


def _means(document: dict[str, Any]) -> list[float]:
    return [c["mean_score"] for c in document.get("cells", [])]


def assert_same_as_the_results(session: Session) -> None:
    for date_from, date_to, theme in FILTERS:
        results, themes = stored_results(session, date_from, date_to)
        for dimension in DIMENSIONS:
            expected = build_heatmap(results, themes, dimension, theme=theme).to_dict()
            got = heatmap_db.heatmap(session, dimension, date_from, date_to, theme).to_dict()
            where = (dimension, date_from, date_to, theme)
            assert _comparable(got) == _comparable(expected), where
            assert _means(got) == pytest.approx(_means(expected), abs=1.000001e-4), where
        expected_trend = build_trend(results, themes, theme=theme).to_dict()
        assert heatmap_db.trend(session, date_from, date_to, theme).to_dict() == expected_trend


def _analyse(factory: sessionmaker[Session], worker: Worker, content: bytes, name: str) -> int:
    accepted = accept_upload(
        factory, worker.settings, content, name, kind=None, columns=None, max_rows=100, max_item_chars=1000
    )
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
    _store(factory, ASPECTS, ASPECT_THEMES, "外卖.csv")
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
        assert tiers.items == 7 + 2 + 6 + len(ASPECTS) + 7
        assert tiers.mentions == sum(c.mentions for c in tiers.cells) >= tiers.items
        assert tiers.columns[:4] == ("钻石", "黄金", "白银", "基础") and tiers.columns[-1] == "未知", "U02 has no tier"
        weeks = heatmap_db.heatmap(session, "week")
        assert weeks.columns[-1] == "未知", "U01 has no date"
        assert list(weeks.columns[:-1]) == sorted(weeks.columns[:-1]) and "2026-W53" in weeks.columns
        stores = heatmap_db.heatmap(session, "store")
        assert set(stores.columns) == {"徐汇店", "静安店", "未知"}
        unknown = sum(c.items for c in stores.cells if c.column == "未知")
        assert unknown >= 7 + 2 + 1 + 2 + 7, "the batches before 门店.csv, U04, A02, A04, A06, A07 have no store"
        logistics = heatmap_db.heatmap(session, "tier", theme="logistics")
        assert logistics.cells and {c.theme for c in logistics.cells} == {"logistics"}
        assert any("送餐" in text or "物流" in text for c in logistics.cells for text in c.examples)


def test_stored_aggregates_count_aspect_mentions_with_their_own_polarity(factory: sessionmaker[Session]) -> None:
    _store(factory, ASPECTS, ASPECT_THEMES, "外卖.csv")
    with factory() as session:
        assert_same_as_the_results(session)
        tiers = heatmap_db.heatmap(session, "tier")
        assert (tiers.items, tiers.mentions) == (7, 12)
        assert tiers.columns == ("钻石", "黄金", "白银", "基础", "未知")
        taste, logistics = tiers.cell("taste", "黄金"), tiers.cell("logistics", "黄金")
        assert taste is not None and (taste.mentions, taste.negatives) == (1, 0), "A01 praises the taste"
        assert logistics is not None and (logistics.mentions, logistics.items, logistics.negatives) == (2, 2, 2)
        assert logistics.examples == ("但是送餐太慢了", "物流太慢了"), "A06 (before aspects) quotes its answer"
        diamond = tiers.cell("logistics", "钻石")
        assert diamond is not None and (diamond.mentions, diamond.items, diamond.negatives) == (4, 2, 3)
        assert diamond.examples == ("骑手还不接电话", "送餐太慢了", "等了一个多小时"), "units, most negative first"
        assert diamond.sparse and diamond.negative_share_low < 0.75 < diamond.negative_share_high
        unassigned = tiers.cell("unassigned", "未知")
        assert unassigned is not None and unassigned.examples == ("还行吧",)
        assert heatmap_db.heatmap(session, "tier", theme="logistics").items == 5  # A01, A02, A04, A06, A07
        week53 = {theme: points[-1] for theme, points in heatmap_db.trend(session).series.items()}
        assert {t for t, p in week53.items() if p.week == "2026-W53"} == {"logistics", "service"}
        assert heatmap_db.trend(session, theme="D01").series["D01"][0].negatives == 1


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
        assert heatmap_db.heatmap(session, "tier").items == 22 + len(ASPECTS)
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
    _store(service.services.factory, ASPECTS, ASPECT_THEMES, "外卖.csv")
    with service.services.factory() as session:
        results, themes = stored_results(session, "2026-11-02", "2026-11-10")
        expected = build_heatmap(results, themes, "store").to_dict()
        trend = build_trend(*stored_results(session)).to_dict()
        by_tier = build_heatmap(results, themes, "tier", theme="logistics").to_dict()
    got = service.client.get("/v1/heatmap?dimension=store&from=2026-11-02&to=2026-11-10", headers=headers).json()
    assert _comparable(got) == _comparable(expected)
    assert _means(got) == pytest.approx(_means(expected), abs=1e-4)  # rounded to 4 places in both
    assert service.client.get("/v1/trend", headers=headers).json() == trend
    got = service.client.get("/v1/heatmap?from=2026-11-02&to=2026-11-10&theme=logistics", headers=headers).json()
    assert _comparable(got) == _comparable(by_tier)
    assert got["columns"][:2] == ["钻石", "黄金"] and {c["theme"] for c in got["cells"]} == {"logistics"}
    cell = next(c for c in got["cells"] if c["column"] == "钻石")
    assert cell["count"] == cell["mentions"] >= 3, "A02's three complaints about delivery"


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
