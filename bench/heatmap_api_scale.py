"""GET /v1/heatmap and /v1/trend over a million stored items (target: ≤ 200 ms each).

Fills a SQLite database (``--db``, default a temporary folder) with ``--items`` stored items (default
1,000,000) in batches of ``--batch-size`` (default 50,000, the service's upload limit): realistic
survey results (tiers 钻石/黄金/白银/基础, six regions, four channels, five product lines, an NPS,
dates over eight weeks, the eight taxonomy themes plus two discovered themes per batch, Chinese
answers of one or two opinion units with an order number, each unit an aspect of its theme with its
own label and probability, which depend on the theme). Rows are made by
``api.store.item_row`` from ``nlp.schema.Result`` values and inserted in bulk; each batch is then
marked done and added to the aggregates in one transaction, as the worker's finish does, by
``api.aggregates.add_results`` — what ``add_batch`` (the worker's call) runs, fed the results just
stored instead of reading them back (``--read-back``: ``add_batch`` itself; slower, same rows). The
generated probabilities and scores are already rounded as stored, so both give the same tallies.

Then the real app (``api.app.create_app``, lexicon scorer, worker and training runner off) answers,
through ``fastapi.testclient.TestClient`` with an analyst key, ``--repeat`` requests (after three
unmeasured ones) of each query: the heatmap over tier, region, channel (two whole weeks), tier (a month
from a Saturday to a Wednesday: whole weeks and days at either end), product (one theme), week, and
the trend (all, and four weeks). Median and p95 in milliseconds are printed per query, with the load
average before and after. ``--old`` also times one request's worth of the
previous path (``build_heatmap`` over ``stored_results``: every stored result parsed).

Run from the repository root: ``.venv/bin/python bench/heatmap_api_scale.py [--items 1000000] [--json]``.
``--db PATH --keep`` keeps the database, and a second run with the same ``--db`` reuses it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's packages are beside bench/
    sys.path.insert(0, str(ROOT))

from synthetic import CHANNELS, DAYS, FIRST_DAY, PRODUCTS, REGIONS, TIER_NAMES, TIER_WEIGHTS, store_batch  # noqa: E402

from api.analysis import Analyzer  # noqa: E402
from api.app import create_app  # noqa: E402
from api.db import make_engine, migrate, session_factory  # noqa: E402
from api.keys import create_key  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.store import stored_results  # noqa: E402
from api.tables import Item  # noqa: E402
from nlp.heatmap import build_heatmap  # noqa: E402
from nlp.schema import Aspect, Cue, Emotion, Label, Result, Sentiment  # noqa: E402
from nlp.taxonomy import load_taxonomy  # noqa: E402
from nlp.themes import Theme  # noqa: E402

SEED = 20261201
TARGET_MS = 200.0
# Per taxonomy theme: (share of items, chance of a negative answer, answers).
ANSWERS: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "logistics": (0.20, 0.65, ("快递三天还没到，物流太慢了", "包装破了，快递员态度也不好", "物流很快，第二天就到了")),
    "price": (0.10, 0.35, ("价格比别家贵，活动也不优惠", "价格实惠，下次还买", "刚买就降价了，不能保价")),
    "quality": (0.15, 0.45, ("用了一周就坏了，质量太差", "质量不错，做工精细", "滤芯漏水，噪音很大")),
    "service": (0.15, 0.50, ("客服态度恶劣，问题一直没解决", "客服小王很耐心，很快解决了", "打了三次电话都没人接")),
    "after_sales": (0.10, 0.70, ("退款一直不到账，催了好几次", "换货流程太麻烦了", "售后很快上门换了新机")),
    "billing": (0.05, 0.55, ("发票一直没开，催了好几次", "付款失败但是扣了钱", "开票很快，没问题")),
    "installation": (0.10, 0.50, ("安装师傅迟到两个小时", "安装师傅很专业，非常满意", "上门维修收费不透明")),
    "account": (0.05, 0.40, ("会员积分突然清零了", "账户登录不上，验证码收不到", "会员活动挺划算")),
}
DISCOVERED = (("以旧换新", 0.05, 0.45, "以旧换新补贴一直没到"), ("门店体验", 0.05, 0.30, "门店导购讲解很清楚"))


Profile = tuple[Theme, float, float, tuple[str, ...]]  # theme, share of items, negative chance, answers


def _profiles(batch_number: int, taxonomy: list[Theme]) -> list[Profile]:
    """The batch's themes (the taxonomy's, then two discovered ones named after the batch) and how its
    answers fall on them."""
    profiles = [(t, *ANSWERS[t.id]) for t in taxonomy if t.id in ANSWERS]
    for i, (label, share, negative, answer) in enumerate(DISCOVERED):
        theme = Theme(f"b{batch_number}-D{i + 1:02d}", label, (label,), "", discovered=True)
        profiles.append((theme, share, negative, (answer,)))
    return profiles


def _cumulative(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _polarity(rng: random.Random, negative_chance: float) -> Sentiment:
    negative = rng.random() < negative_chance
    probability = round(rng.uniform(0.6, 0.99) if negative else rng.uniform(0.01, 0.45), 4)
    label: Label = "negative" if probability >= 0.6 else ("positive" if probability < 0.35 else "neutral")
    return Sentiment(label, 1 - 2 * probability, probability, "lexicon-1")  # as result_from_dict reads it back


def _result(
    rng: random.Random, batch_number: int, index: int, profiles: list[Profile], cumulative: list[float]
) -> Result:
    """An answer of one or two opinion units (aspects), each about its theme with its own polarity."""
    tier = rng.choices(TIER_NAMES, cum_weights=TIER_WEIGHTS)[0]
    chosen = [rng.choices(profiles, cum_weights=cumulative)[0]]
    second = rng.choice(profiles)
    if second[0].id != chosen[0][0].id and rng.random() < 0.3:
        chosen.append(second)
    aspects = []
    start = 0
    for theme, _, negative_chance, answers in chosen:
        if tier == "钻石":
            negative_chance = min(0.95, negative_chance + 0.1)  # high-value customers complain more loudly
        answer = rng.choice(answers)
        sentiment = _polarity(rng, negative_chance)
        emotion = Emotion("sad") if sentiment.label == "negative" else None
        aspects.append(
            Aspect(answer, start, start + len(answer), answer[:2], answer[2:4], sentiment, emotion, theme.id)
        )
        start += len(answer) + 1
    worst = max(aspects, key=lambda a: a.sentiment.negative_probability)
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    meta: dict[str, Any] = {
        "tier": tier,
        "channel": rng.choice(CHANNELS),
        "region": rng.choice(REGIONS),
        "product": rng.choice(PRODUCTS),
        "date": day.isoformat(),
        "nps": rng.randrange(11),
    }
    themes = tuple(a.theme for a in aspects if a.theme)
    return Result(
        id=f"B{batch_number:02d}-{index:06d}",
        kind="survey",
        text="，".join(a.text for a in aspects) + f"（订单{batch_number:02d}{index:06d}）",
        sentiment=worst.sentiment,
        emotion=worst.emotion,
        explanation=(Cue(worst.text[:2], -1.0 if worst.label == "negative" else 1.0),),
        keywords=tuple(a.term for a in aspects),
        themes=themes,
        theme_weights={t: round(1 / len(themes), 3) for t in themes},
        meta=meta,
        aspects=tuple(aspects),
    )


def fill(factory: sessionmaker[Session], items: int, batch_size: int, seed: int, read_back: bool) -> dict[str, float]:
    """Store `items` results in done batches and add each batch to the aggregates; seconds taken."""
    rng = random.Random(seed)
    taxonomy = [Theme(t.id, t.label, t.seeds[:5], t.department) for t in load_taxonomy().themes]
    insert_s = aggregate_s = 0.0
    for batch_number, start in enumerate(range(0, items, batch_size), start=1):
        count = min(batch_size, items - start)
        profiles = _profiles(batch_number, taxonomy)
        cumulative = _cumulative(p[1] for p in profiles)

        def make(
            i: int,
            batch_number: int = batch_number,
            profiles: list[Profile] = profiles,
            cumulative: list[float] = cumulative,
        ) -> Result:
            return _result(rng, batch_number, i, profiles, cumulative)

        _stored, inserted, aggregated = store_batch(
            factory,
            sha256=f"{seed:016x}{batch_number:048x}",
            number=batch_number,
            themes=[p[0].to_dict() for p in profiles],
            count=count,
            make=make,
            read_back=read_back,
        )
        insert_s, aggregate_s = insert_s + inserted, aggregate_s + aggregated
        print(f"  batch {batch_number}: {start + count:,} items", file=sys.stderr)
    return {"insert_s": round(insert_s, 1), "aggregate_s": round(aggregate_s, 1)}


QUERIES = (
    "/v1/heatmap",
    "/v1/heatmap?dimension=region",
    "/v1/heatmap?dimension=channel&from=2026-10-05&to=2026-10-18",
    "/v1/heatmap?dimension=tier&from=2026-10-03&to=2026-11-04",
    "/v1/heatmap?dimension=product&theme=logistics",
    "/v1/heatmap?dimension=week",
    "/v1/trend",
    "/v1/trend?from=2026-10-12&to=2026-11-08",
)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_queries(client: TestClient, headers: dict[str, str], repeat: int) -> list[dict[str, Any]]:
    figures = []
    for path in QUERIES:
        for _ in range(3):
            assert client.get(path, headers=headers).status_code == 200, path
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
        body = response.json()
        # The trend has no total of items (an item is in each theme it mentions): its mentions are shown.
        size = body.get("items", sum(p["mentions"] for s in body.get("series", []) for p in s["points"]))
        figures.append(
            {
                "query": path,
                "items": size,
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(_percentile(times, 0.95), 1),
            }
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per query")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--db", type=Path, help="SQLite file (reused when it already holds items)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--old", action="store_true", help="also time the old path once (parses every result)")
    parser.add_argument(
        "--read-back", action="store_true", help="aggregate each batch as the worker does, reading its items back"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="kesheng-heatmap-"))
    path = args.db or folder / "kesheng.db"
    load_before = os.getloadavg()[0]
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(Item)) or 0
    fill_s: dict[str, float] = {}
    if stored == 0:
        print(f"filling {path} with {args.items:,} items", file=sys.stderr)
        fill_s = fill(factory, args.items, args.batch_size, args.seed, args.read_back)
        stored = args.items
    else:
        print(f"reusing {path}: {stored:,} items", file=sys.stderr)

    old_s = None
    if args.old:
        began = time.perf_counter()
        with factory() as session:
            results, themes = stored_results(session)
            build_heatmap(results, themes, "tier").to_dict()
        old_s = round(time.perf_counter() - began, 1)
        del results

    settings = Settings(
        data_dir=folder, db_url=f"sqlite:///{path}", lexicon=True, redact_names=False, worker=False, training=False
    )
    with TestClient(create_app(settings, analyzer=Analyzer(settings))) as client:
        with factory() as session, session.begin():
            _, key = create_key(session, "analyst", "bench")
        figures = time_queries(client, {"Authorization": f"Bearer {key}"}, args.repeat)
    engine.dispose()
    report = {
        "items": stored,
        "database_mb": round(path.stat().st_size / 2**20),
        **fill_s,
        "old_path_tier_s": old_s,
        "queries": figures,
        "worst_p95_ms": max(f["p95_ms"] for f in figures),
        "target_ms": TARGET_MS,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    if not args.keep and args.db is None:
        for leftover in folder.glob("*"):
            leftover.unlink()
        folder.rmdir()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print(
        f"{stored:,} stored items, database {report['database_mb']} MB; load {load_before:.2f} → {report['load_after']}"
    )
    if fill_s:
        print(f"fill: items inserted in {fill_s['insert_s']} s, aggregates added in {fill_s['aggregate_s']} s")
    if old_s is not None:
        print(f"old path (every result parsed), heatmap over tier: {old_s} s")
    print(f"{'query':<62} {'items':>9} {'median ms':>10} {'p95 ms':>8}")
    for f in figures:
        print(f"{f['query']:<62} {f['items']:>9,} {f['median_ms']:>10} {f['p95_ms']:>8}")
    verdict = "meets" if report["worst_p95_ms"] <= TARGET_MS else "misses"
    print(f"worst p95 {report['worst_p95_ms']} ms: {verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
