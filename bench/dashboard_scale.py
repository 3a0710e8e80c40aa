"""Every dashboard view over a million stored items (target: ≤ 300 ms each).

Fills a SQLite database (``--db``, default a temporary folder) with ``--items`` stored items (default
1,000,000) in done batches of ``--batch-size`` (default 50,000), the way bench/heatmap_api_scale.py
does: ``nlp.schema.Result`` values made in Python, rows from ``api.store.item_row`` inserted in bulk,
then each batch marked done and added to the aggregates in one transaction by
``api.aggregates.add_results`` — the heatmap tallies and the dashboard's day figures
(api.dashboard.tallies), as the worker's finish adds them.

The items are survey answers (85 %) and follow-up calls (15 %) over eight ISO weeks: tiers
钻石/黄金/白银/基础, six regions, four channels, five product lines, an NPS on most answers and a CSAT
on half, one or two opinion units each — an aspect of one of the eight taxonomy themes with a real
term·opinion pair (快递·太慢, 包装·破损, 退款·不到账 …), its own polarity and emotion — and NPS scores
that follow what was said. A call has agent and customer turns with times, per-turn polarity and
emotion, its customer aspects on their turns, and an abnormal reading when the customer ends angry.
The alert rules then run over the last two batches (what the service does after a batch) and store
their alerts and follow-ups.

Then the real app (``api.app.create_app``, lexicon scorer, worker and training runner off) answers
through ``fastapi.testclient.TestClient``, signed in through the sign-in form with an admin key:
after two unmeasured requests, ``--repeat`` GETs of each view (overview, with a segment and a month;
heatmap by region, tier over a month, week, a segment's sample; three cells' verbatims; the heatmap
CSV; 趋势; 根因路径, with a segment and two weeks; 告警; 回访清单; 批次 and a batch's items; a call,
by id; 模型; 密钥). Median and maximum in milliseconds are printed per view, with the load average.

Run from the repository root: ``.venv/bin/python bench/dashboard_scale.py [--items 1000000] [--json]``.
``--db PATH --keep`` keeps the database; a second run with the same ``--db`` reuses it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project's packages are beside bench/
    sys.path.insert(0, str(ROOT))

from synthetic import CHANNELS, DAYS, FIRST_DAY, PRODUCTS, REGIONS, TIER_NAMES, TIER_WEIGHTS, store_batch  # noqa: E402

from api.alerts_db import load_state, save_alert  # noqa: E402
from api.analysis import Analyzer  # noqa: E402
from api.app import create_app  # noqa: E402
from api.db import make_engine, migrate, session_factory  # noqa: E402
from api.followups_db import save_followups  # noqa: E402
from api.keys import create_key  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.tables import Batch, Item  # noqa: E402
from nlp.alerts import evaluate, list_followups, load_rules  # noqa: E402
from nlp.schema import Aspect, CallReading, Cue, Emotion, Result, Sentiment, TurnResult  # noqa: E402
from nlp.taxonomy import load_taxonomy  # noqa: E402
from nlp.themes import Theme  # noqa: E402

SEED = 20261204
TARGET_MS = 300.0
CALL_SHARE = 0.15
# Per taxonomy theme: (share of items, chance of a negative unit, units as (term, opinion, text, negative)).
UNITS: dict[str, tuple[float, float, tuple[tuple[str, str, str, bool], ...]]] = {
    "logistics": (0.22, 0.65, (
        ("快递", "太慢", "快递太慢了，三天还没到", True),
        ("包装", "破损", "包装破损，东西都压坏了", True),
        ("配送员", "态度差", "配送员态度差，东西扔在门口就走", True),
        ("物流", "很快", "物流很快，第二天就到了", False),
    )),
    "price": (0.10, 0.35, (
        ("价格", "太贵", "价格太贵了，比别家贵不少", True),
        ("活动", "不优惠", "活动一点都不优惠", True),
        ("价格", "实惠", "价格实惠，下次还买", False),
    )),
    "quality": (0.15, 0.45, (
        ("质量", "太差", "用了一周就坏了，质量太差", True),
        ("滤芯", "漏水", "滤芯漏水，噪音也很大", True),
        ("做工", "精细", "做工精细，质量不错", False),
    )),
    "service": (0.15, 0.50, (
        ("客服", "态度恶劣", "客服态度恶劣，问题一直没解决", True),
        ("电话", "没人接", "打了三次电话都没人接", True),
        ("客服", "耐心", "客服很耐心，很快就解决了", False),
    )),
    "after_sales": (0.10, 0.70, (
        ("退款", "不到账", "退款一直不到账，催了好几次", True),
        ("换货", "麻烦", "换货流程太麻烦了", True),
        ("售后", "及时", "售后很快上门换了新机", False),
    )),
    "billing": (0.05, 0.55, (
        ("发票", "没开", "发票一直没开，催了也没用", True),
        ("扣款", "重复", "付款失败但是重复扣了钱", True),
        ("开票", "很快", "开票很快，没问题", False),
    )),
    "installation": (0.13, 0.50, (
        ("师傅", "迟到", "安装师傅迟到了两个小时", True),
        ("收费", "不透明", "上门维修收费不透明", True),
        ("师傅", "专业", "安装师傅很专业，非常满意", False),
    )),
    "account": (0.10, 0.40, (
        ("积分", "清零", "会员积分突然清零了", True),
        ("验证码", "收不到", "账户登录不上，验证码收不到", True),
        ("会员活动", "划算", "会员活动挺划算", False),
    )),
}  # fmt: skip
GREETING = "您好，这里是客服中心，回访一下您上次的订单体验"
APOLOGY = "非常抱歉给您带来不便，我们马上记录并反馈给相关部门"
CLOSING = {
    "angry": "每次都这么说，根本没人管，我要投诉！",
    "neutral": "好的，希望尽快处理吧",
    "happy": "好的，谢谢你们",
}


def _sentiment(rng: random.Random, negative: bool) -> Sentiment:
    probability = round(rng.uniform(0.62, 0.99) if negative else rng.uniform(0.01, 0.3), 4)
    label = "negative" if negative else ("positive" if probability < 0.2 else "neutral")
    return Sentiment(label, round(1 - 2 * probability, 4), probability, "lexicon-1")  # type: ignore[arg-type]


def _nps(rng: random.Random, complaints: int) -> int:
    """A score that follows what was said: complaints mostly 0-6, praise mostly 9-10."""
    roll = rng.random()
    if complaints:
        return rng.randrange(0, 7) if roll < 0.72 else rng.randrange(7, 9) if roll < 0.92 else rng.randrange(9, 11)
    return rng.randrange(9, 11) if roll < 0.6 else rng.randrange(7, 9) if roll < 0.9 else rng.randrange(0, 7)


THEMES = list(UNITS)
THEME_WEIGHTS = list(itertools.accumulate(UNITS[t][0] for t in THEMES))


def _units(rng: random.Random, tier: str) -> list[tuple[str, str, str, str, bool]]:
    """One or two opinion units: (theme, term, opinion, text, negative)."""
    chosen = [rng.choices(THEMES, cum_weights=THEME_WEIGHTS)[0]]
    if rng.random() < 0.3:
        second = rng.choice(THEMES)
        if second != chosen[0]:
            chosen.append(second)
    out = []
    for theme in chosen:
        _, chance, options = UNITS[theme]
        if tier == "钻石":
            chance = min(0.95, chance + 0.1)  # high-value customers complain more loudly
        negative = rng.random() < chance
        term, opinion, text, _ = rng.choice([o for o in options if o[3] == negative])
        out.append((theme, term, opinion, text, negative))
    return out


def _meta(rng: random.Random) -> dict[str, Any]:
    tier = rng.choices(TIER_NAMES, cum_weights=TIER_WEIGHTS)[0]
    day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
    return {"tier": tier, "channel": rng.choice(CHANNELS), "region": rng.choice(REGIONS),
            "product": rng.choice(PRODUCTS), "date": day.isoformat()}  # fmt: skip


def _survey(rng: random.Random, item_id: str) -> Result:
    meta = _meta(rng)
    units = _units(rng, meta["tier"])
    aspects, start = [], 0
    for theme, term, opinion, text, negative in units:
        sentiment = _sentiment(rng, negative)
        emotion = Emotion(rng.choice(("sad", "angry", "fear"))) if negative else None
        aspects.append(Aspect(text, start, start + len(text), term, opinion, sentiment, emotion, theme))
        start += len(text) + 1
    complaints = sum(u[4] for u in units)
    if rng.random() < 0.9:
        meta["nps"] = _nps(rng, complaints)
    if rng.random() < 0.5:
        meta["csat"] = rng.randrange(1, 3) if complaints else rng.randrange(4, 6)
    worst = max(aspects, key=lambda a: a.sentiment.negative_probability)
    themes = tuple(dict.fromkeys(a.theme for a in aspects if a.theme))
    return Result(
        id=item_id,
        kind="survey",
        text="，".join(a.text for a in aspects),
        sentiment=worst.sentiment,
        emotion=worst.emotion,
        explanation=(Cue(worst.opinion, -1.0 if worst.label == "negative" else 1.0),),
        keywords=tuple(a.term for a in aspects),
        themes=themes,
        theme_weights={t: round(1 / len(themes), 3) for t in themes},
        meta=meta,
        aspects=tuple(aspects),
    )


def _call(rng: random.Random, item_id: str) -> Result:
    meta = _meta(rng)
    meta["channel"] = "电话回访"
    units = _units(rng, meta["tier"])
    complaints = sum(u[4] for u in units)
    ending = ("angry" if rng.random() < 0.4 else "neutral") if complaints else "happy"
    spoken: list[tuple[str, str, Sentiment, Emotion | None]] = [("agent", GREETING, _sentiment(rng, False), None)]
    aspects = []
    for theme, term, opinion, text, negative in units:
        sentiment = _sentiment(rng, negative)
        emotion = Emotion("sad") if negative else None
        aspects.append(Aspect(text, 0, len(text), term, opinion, sentiment, emotion, theme, turn=len(spoken)))
        spoken.append(("customer", text, sentiment, emotion))
    spoken.append(("agent", APOLOGY, _sentiment(rng, False), None))
    closing = _sentiment(rng, ending == "angry")
    spoken.append(("customer", CLOSING[ending], closing, Emotion("angry") if ending == "angry" else None))
    turns, clock = [], 0.0
    for speaker, text, sentiment, emotion in spoken:
        length = round(rng.uniform(3, 12), 1)
        turns.append(TurnResult(speaker, text, sentiment, clock, clock + length, emotion))  # type: ignore[arg-type]
        clock = round(clock + length + rng.uniform(0.5, 2), 1)
    start = "sad" if complaints else "neutral"
    end = {"angry": "angry", "neutral": "neutral", "happy": "happy"}[ending]
    reading = CallReading(start, end, ending == "angry", ("ends_angry",) if ending == "angry" else ())  # type: ignore[arg-type]
    worst = max((t.sentiment for t in turns if t.speaker == "customer"), key=lambda s: s.negative_probability)
    themes = tuple(dict.fromkeys(a.theme for a in aspects if a.theme))
    return Result(
        id=item_id,
        kind="transcript",
        text="\n".join(t.text for t in turns if t.speaker == "customer"),
        sentiment=worst,
        turns=tuple(turns),
        emotion=Emotion("angry") if ending == "angry" else (Emotion("sad") if complaints else None),
        keywords=tuple(a.term for a in aspects),
        themes=themes,
        theme_weights={t: round(1 / len(themes), 3) for t in themes},
        meta=meta,
        call=reading,
        aspects=tuple(aspects),
    )


def fill(factory: sessionmaker[Session], items: int, batch_size: int, seed: int) -> dict[str, Any]:
    """Store `items` results in done batches, each added to the aggregates as the worker adds it, then
    run the alert rules over the last two batches; seconds taken and a call's id."""
    rng = random.Random(seed)
    themes = [Theme(t.id, t.label, t.seeds[:5], t.department).to_dict() for t in load_taxonomy().themes]
    insert_s = aggregate_s = 0.0
    recent: list[Result] = []
    a_call = ""
    for batch_number, start in enumerate(range(0, items, batch_size), start=1):

        def make(i: int, batch_number: int = batch_number) -> Result:
            item_id = f"B{batch_number:02d}-{i:06d}"
            return _call(rng, item_id) if rng.random() < CALL_SHARE else _survey(rng, item_id)

        count = min(batch_size, items - start)
        stored, inserted, aggregated = store_batch(
            factory,
            sha256=f"{seed:016x}{batch_number:048x}",
            number=batch_number,
            themes=themes,
            count=count,
            make=make,
        )
        insert_s, aggregate_s = insert_s + inserted, aggregate_s + aggregated
        a_call = next((r.id for _, r in reversed(stored) if r.kind == "transcript"), a_call)
        recent = (recent + [r for _, r in stored])[-2 * batch_size :]
        print(f"  batch {batch_number}: {start + count:,} items", file=sys.stderr)
    began = time.perf_counter()
    rules = load_rules(None)
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        raised, state = evaluate(recent, rules, load_state(session), now)
        for alert in state.alerts:
            save_alert(session, alert)
        labels = {t["id"]: t["label"] for t in themes}
        followups = save_followups(session, list_followups(recent, rules, now, labels))
    alerts_s = time.perf_counter() - began
    return {"insert_s": round(insert_s, 1), "aggregate_s": round(aggregate_s, 1), "alerts_s": round(alerts_s, 1),
            "alerts": len(raised), "followups": followups, "call": a_call}  # fmt: skip


def views(call_pk: int, call_id: str, batch_id: int) -> list[str]:
    return [
        "/dashboard",
        "/dashboard?segment=region:华南",
        "/dashboard?from=2026-10-05&to=2026-11-01",
        "/dashboard/heatmap",
        "/dashboard/heatmap?dimension=tier&from=2026-10-03&to=2026-11-04",
        "/dashboard/heatmap?dimension=week",
        "/dashboard/heatmap?dimension=tier&segment=region:华南",
        "/dashboard/heatmap/cell?dimension=region&theme=logistics&column=华南",
        "/dashboard/heatmap/cell?dimension=tier&theme=billing&column=钻石&from=2026-10-05&to=2026-10-18",
        "/dashboard/heatmap/cell?dimension=week&theme=account&column=2026-W41",
        "/dashboard/heatmap.csv?dimension=region",
        "/dashboard/trend",
        "/dashboard/trend?from=2026-10-12&to=2026-11-08",
        "/dashboard/paths",
        "/dashboard/paths?segment=region:华南&from=2026-10-05&to=2026-10-18",
        "/dashboard/alerts",
        "/dashboard/alerts?status=open",
        "/dashboard/followups",
        "/dashboard/batches",
        f"/dashboard/batches/{batch_id}/items",
        f"/dashboard/batches/{batch_id}/items?offset=40000",
        f"/dashboard/calls/{call_pk}",
        f"/dashboard/items?id={call_id}",
        "/dashboard/models",
        "/dashboard/keys",
    ]


def _sign_in(client: TestClient, key: str) -> None:
    page = client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, "the sign-in form"
    answer = client.post("/login", data={"key": key, "csrf": found.group(1)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def time_views(client: TestClient, paths: list[str], repeat: int) -> list[dict[str, Any]]:
    figures = []
    for path in paths:
        for _ in range(2):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code in (200, 303), (path, answer.status_code)
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            answer = client.get(path, follow_redirects=False)
            times.append((time.perf_counter() - began) * 1000)
        figures.append({"view": path, "status": answer.status_code, "bytes": len(answer.content),
                        "p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)})  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per view")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--db", type=Path, help="SQLite file (reused when it already holds items)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="kesheng-dashboard-"))
    path = args.db or folder / "kesheng.db"
    load_before = os.getloadavg()[0]
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(Item)) or 0
    filled: dict[str, Any] = {}
    if stored == 0:
        print(f"filling {path} with {args.items:,} items", file=sys.stderr)
        filled = fill(factory, args.items, args.batch_size, args.seed)
        stored = args.items
    else:
        print(f"reusing {path}: {stored:,} items", file=sys.stderr)
    with factory() as session:
        call_pk, call_id = session.execute(
            select(Item.id, Item.item_id).where(Item.kind == "transcript").order_by(Item.id.desc()).limit(1)
        ).one()
        batch_id = session.scalar(select(func.max(Batch.id)))
    settings = Settings(
        data_dir=folder, db_url=f"sqlite:///{path}", lexicon=True, redact_names=False, worker=False, training=False
    )
    with TestClient(create_app(settings, analyzer=Analyzer(settings))) as client:
        with factory() as session, session.begin():
            _, key = create_key(session, "admin", "bench")
        _sign_in(client, key)
        figures = time_views(client, views(call_pk, call_id, int(batch_id or 1)), args.repeat)
    engine.dispose()
    report = {
        "items": stored,
        "database_mb": round(path.stat().st_size / 2**20),
        **filled,
        "views": figures,
        "worst_p50_ms": max(f["p50_ms"] for f in figures),
        "worst_max_ms": max(f["max_ms"] for f in figures),
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
    if filled:
        print(f"fill: inserts {filled['insert_s']} s, aggregates {filled['aggregate_s']} s, alert rules "
              f"{filled['alerts_s']} s ({filled['alerts']} alerts, {filled['followups']} follow-ups)")  # fmt: skip
    print(f"{'view':<92} {'p50 ms':>8} {'max ms':>8}")
    for f in figures:
        flag = "" if f["p50_ms"] <= TARGET_MS else "  > target"
        print(f"{f['view']:<92} {f['p50_ms']:>8} {f['max_ms']:>8}{flag}")
    verdict = "meets" if report["worst_p50_ms"] <= TARGET_MS else "misses"
    print(f"worst p50 {report['worst_p50_ms']} ms, worst max {report['worst_max_ms']} ms: {verdict} the "
          f"{TARGET_MS:.0f} ms target")  # fmt: skip


if __name__ == "__main__":
    main()
