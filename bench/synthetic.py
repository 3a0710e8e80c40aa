"""What the scale benches share: the segments of their made-up items and the way a batch of them is
stored — rows from ``api.store.item_row`` inserted in bulk, then the batch marked done and added to
the aggregates in one transaction, as the worker's finish does."""

from __future__ import annotations

import itertools
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's packages are beside bench/
    sys.path.insert(0, str(ROOT))

from api.aggregates import add_batch, add_results  # noqa: E402
from api.store import item_row  # noqa: E402
from api.tables import Batch, Item  # noqa: E402
from nlp.schema import Result  # noqa: E402

ITEMS = cast(Table, Item.__table__)
FIRST_DAY = date(2026, 9, 28)  # a Monday: eight whole ISO weeks
DAYS = 56
TIERS = (("钻石", 0.10), ("黄金", 0.25), ("白银", 0.30), ("基础", 0.35))
TIER_NAMES = [t for t, _ in TIERS]
TIER_WEIGHTS = list(itertools.accumulate(w for _, w in TIERS))  # for random.choices(cum_weights=…)
REGIONS = ("华东", "华南", "华北", "华中", "西南", "西北")
CHANNELS = ("电话回访", "App问卷", "短信问卷", "微信")
PRODUCTS = ("净水器", "扫地机器人", "空气净化器", "洗碗机", "热水器")


def store_batch(
    factory: sessionmaker[Session],
    *,
    sha256: str,
    number: int,
    themes: list[dict[str, Any]],
    count: int,
    make: Callable[[int], Result],
    read_back: bool = False,
) -> tuple[list[tuple[int, Result]], float, float]:
    """Batch `number` of `count` results ``make(0)`` … ``make(count - 1)``, stored done and aggregated
    (``read_back``: by ``add_batch``, reading the rows back, else ``add_results`` on the results just
    made — the same tallies, since they are rounded as stored); (stored rows, insert s, aggregate s)."""
    now = datetime.now(UTC)
    began = time.perf_counter()
    stored: list[tuple[int, Result]] = []
    with factory() as session, session.begin():
        last_pk = session.scalar(select(func.max(Item.id))) or 0
        batch = Batch(sha256=sha256, filename=f"回访-{number:02d}.csv", status="running", phase="scoring", total=count,
                      processed=count, report={}, themes=themes, created_at=now, updated_at=now)  # fmt: skip
        session.add(batch)
        session.flush()
        for chunk in range(0, count, 10_000):
            rows = []
            for i in range(chunk, min(count, chunk + 10_000)):
                result = make(i)
                last_pk += 1
                stored.append((last_pk, result))
                rows.append({"id": last_pk, **item_row(i, batch.id, result)})
            session.execute(insert(ITEMS), rows)  # Core: no ORM bookkeeping per row
    inserted = time.perf_counter() - began
    began = time.perf_counter()
    with factory() as session, session.begin():  # as Worker.finish: done and aggregated together
        done = session.get_one(Batch, batch.id)
        done.status = done.phase = "done"
        done.finished_at = done.updated_at = datetime.now(UTC)
        done.labels = dict(Counter(r.sentiment.label for _, r in stored))
        session.flush()
        if read_back:
            add_batch(session, batch.id)
        else:
            add_results(session, batch.id, stored)
    return stored, inserted, time.perf_counter() - began


__all__ = [
    "CHANNELS",
    "DAYS",
    "FIRST_DAY",
    "ITEMS",
    "PRODUCTS",
    "REGIONS",
    "TIERS",
    "TIER_NAMES",
    "TIER_WEIGHTS",
    "store_batch",
]
