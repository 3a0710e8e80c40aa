"""Peak memory of the aggregates (issue 12): the heatmap, trend, alert and follow-up tallies, streamed
or from a list.

``--n`` synthetic results (default 1,000,000) are made one at a time and go through a
``HeatmapAccumulator`` (dimensions tier, region, channel, product and week, and the trend) and an
``AlertAccumulator`` with the bundled rules (data/alerts.toml: share, window-baseline, NPS, rise and
severe rules, and the follow-up list); each result is dropped once added. The list-based path, for
comparison, first makes the ``--list-n`` results (default 100,000) into a list, then calls
``build_heatmap`` per dimension, ``build_trend``, ``evaluate`` and ``list_followups`` on it, as a
caller holding every result would.

Results look like real survey answers analysed with aspects (nlp.schema.Aspect): tier
钻石/黄金/白银/基础 (5/20/35/40 %), seven regions, four channels, six product lines, dates over eight
weeks, an NPS answer, and a Chinese text of one to three opinion units, each about one of twelve
themes and each with its own polarity (about one in three negative, an emotion for some), followed
by an order number (every text distinct, as real answers are). The heatmap and the share and rise
rules count these aspect mentions (an answer praising the price and blaming the delivery is positive
under 价格优惠 and negative under 物流配送); 物流配送 · 华东 goes bad (80 % negative) in week 6.
Negative answers of 钻石 customers (a unit at least 0.8 negative) enter the follow-up list, about 1 %
of all answers: the one part that grows with the input, a few fields each. One negative answer in
fifty also names a safety or legal word (漏电, 12315, 律师 ...), which makes a 钻石 customer's answer a
severe alert (data/alerts.toml [[severe]] safety_legal): a few per ten thousand answers.

Each path runs in a fresh Python process, so that its peak RSS (``resource.getrusage``, the high
water mark of the process) is its own; the RSS after the imports is printed too (the base every path
pays). Figures are machine-dependent; the load average before and after is printed.

Run from the repository root: ``.venv/bin/python bench/aggregate_memory.py [--n 1000000]
[--list-n 100000] [--json]``; ``--mode stream|list`` runs one path in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlp.alerts import AlertAccumulator, AlertState, evaluate, list_followups, load_rules  # noqa: E402
from nlp.heatmap import Heatmap, HeatmapAccumulator, build_heatmap, build_trend  # noqa: E402
from nlp.schema import Aspect, Emotion, Label, Result, Sentiment  # noqa: E402
from nlp.themes import Theme  # noqa: E402

SEED = 20261201
TIERS = ("钻石", "黄金", "白银", "基础")
TIER_WEIGHTS = (5, 20, 35, 40)
REGIONS = ("华东", "华南", "华北", "华中", "西南", "西北", "东北")
CHANNELS = ("App问卷", "电话回访", "短信问卷", "官网")
PRODUCTS = ("外卖", "净水器", "空调", "手机", "宽带", "会员")
THEMES = (
    ("物流配送", "送货"),
    ("服务态度", "客服"),
    ("售后维修", "维修"),
    ("价格优惠", "价格"),
    ("产品质量", "质量"),
    ("安装服务", "安装"),
    ("退换货", "退货"),
    ("支付问题", "支付"),
    ("包装破损", "包装"),
    ("APP体验", "闪退"),
    ("菜品口味", "口味"),
    ("会员权益", "积分"),
)
# One complaint and one praise per theme, in the order of THEMES: the opinion units answers are made of.
COMPLAINTS = (
    "送货太慢了，等了三天还没到",
    "客服态度很差，问什么都不耐烦",
    "维修师傅约了两次都没来",
    "价格比上个月贵了不少",
    "质量太差，用了一周就坏了",
    "安装的时候把墙弄脏了也不管",
    "退货流程太麻烦，来回折腾",
    "付款的时候一直提示失败",
    "包装破了，里面的东西也压坏了",
    "APP老是闪退，根本没法用",
    "口味一般，饭菜都凉了",
    "积分莫名其妙被清零了",
)
PRAISES = (
    "送货很快，第二天就到了",
    "客服小姐姐很耐心",
    "师傅很专业，很快就修好了",
    "价格实惠，活动力度大",
    "质量不错，用着很放心",
    "安装师傅很准时，走前还打扫了",
    "退货很顺利，钱当天就退了",
    "付款很方便，一下就好了",
    "包装很结实，一点没坏",
    "APP界面清楚，用着顺手",
    "饭菜很香，分量也足",
    "积分能抵现金，很划算",
)
# What the severe rule names (a safety harm, a regulator, legal action), said in a negative answer.
SEVERE_WORDS = ("插上电就漏电了，差点触电", "再不处理我就打12315", "我已经找了律师，准备起诉")
SEVERE_SHARE = 0.02  # of negative answers
EMOTIONS = (Emotion("angry"), Emotion("sad"), Emotion("fear"), None, None, None)
WEEK1 = date(2026, 9, 7)
DAYS = 56  # eight weeks
DIMENSIONS = ("tier", "region", "channel", "product", "week")
# One cell goes bad in week 6, so that share and rise rules have something to find.
PLANTED = ("物流配送", "华东", 5)


def _sentiment(negative: bool, rng: random.Random) -> Sentiment:
    p = rng.uniform(0.55, 0.99) if negative else rng.uniform(0.02, 0.45)
    label: Label = "negative" if negative else ("neutral" if p > 0.35 else "positive")
    return Sentiment(label, 1 - 2 * p, p, "synthetic")


def synthetic(n: int, seed: int) -> Iterator[Result]:
    """`n` results made one at a time (nothing is kept here), each with its aspects."""
    rng = random.Random(seed)
    indices = range(len(THEMES))
    for i in range(n):
        region, day = rng.choice(REGIONS), rng.randrange(DAYS)
        aspects: list[Aspect] = []
        start = 0
        for index in rng.sample(indices, rng.choice((1, 1, 2, 3))):
            theme, word = THEMES[index]
            planted = theme == PLANTED[0] and region == PLANTED[1] and day // 7 == PLANTED[2]
            negative = rng.random() < (0.8 if planted else 0.33)
            unit = COMPLAINTS[index] if negative else PRAISES[index]
            emotion = rng.choice(EMOTIONS) if negative else None
            aspects.append(Aspect(unit, start, start + len(unit), word, "", _sentiment(negative, rng), emotion, theme))
            start += len(unit) + 1
        negatives = [a for a in aspects if a.label == "negative"]
        if negatives and rng.random() < SEVERE_SHARE:
            unit = rng.choice(SEVERE_WORDS)
            worst = max(negatives, key=lambda a: a.sentiment.negative_probability)
            aspects.append(Aspect(unit, start, start + len(unit), "", "", worst.sentiment, worst.emotion, worst.theme))
        # The answer reads as its most negative unit: negative when any unit is.
        overall = max(aspects, key=lambda a: a.sentiment.negative_probability)
        meta: dict[str, Any] = {
            "tier": rng.choices(TIERS, TIER_WEIGHTS)[0],
            "region": region,
            "channel": rng.choice(CHANNELS),
            "product": rng.choice(PRODUCTS),
            "date": (WEEK1 + timedelta(days=day)).isoformat(),
            "nps": rng.randint(0, 6) if negatives and rng.random() < 0.7 else rng.randint(5, 10),
        }
        yield Result(
            id=f"s{i:07d}",
            kind="survey",
            text="，".join(a.text for a in aspects) + f"（单号{seed % 1000}{i:07d}）",
            sentiment=overall.sentiment,
            emotion=overall.emotion,
            themes=tuple(dict.fromkeys(a.theme for a in aspects if a.theme)),
            meta=meta,
            aspects=tuple(aspects),
        )


def _theme_list() -> list[Theme]:
    return [Theme(theme, theme, (word,)) for theme, word in THEMES]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _now() -> datetime:
    return datetime.combine(WEEK1 + timedelta(days=DAYS), datetime.min.time(), UTC) + timedelta(hours=9)


def run_stream(n: int, seed: int) -> dict[str, Any]:
    """Every result through both accumulators, one at a time."""
    rules = load_rules()
    themes = _theme_list()
    base = _peak_mb()
    start = time.perf_counter()
    heatmaps = HeatmapAccumulator(DIMENSIONS)
    alerts = AlertAccumulator(rules)
    mentions = 0
    for result in synthetic(n, seed):
        heatmaps.add(result)
        alerts.add(result)
        mentions += len(result.aspects)
    fed = time.perf_counter() - start
    built = [heatmaps.heatmap(themes, d) for d in DIMENSIONS]
    trend = heatmaps.trend(themes)
    raised, state = alerts.evaluate(AlertState(), _now())
    followups = alerts.followups(_now())
    total = time.perf_counter() - start
    return _figures("stream", n, mentions, base, fed, total, built, trend.weeks, raised, state, len(followups))


def run_list(n: int, seed: int) -> dict[str, Any]:
    """The results made into a list first, then the list-based builders, evaluate and list_followups."""
    rules = load_rules()
    themes = _theme_list()
    base = _peak_mb()
    start = time.perf_counter()
    results = list(synthetic(n, seed))
    fed = time.perf_counter() - start
    built = [build_heatmap(results, themes, d) for d in DIMENSIONS]
    trend = build_trend(results, themes)
    raised, state = evaluate(results, rules, AlertState(), _now())
    followups = list_followups(results, rules, _now())
    total = time.perf_counter() - start
    mentions = sum(len(r.aspects) for r in results)
    return _figures("list", n, mentions, base, fed, total, built, trend.weeks, raised, state, len(followups))


def _figures(
    mode: str,
    n: int,
    mentions: int,
    base: float,
    fed: float,
    total: float,
    built: list[Heatmap],
    weeks: Any,
    raised: Any,
    state: Any,
    followups: int,
) -> dict[str, Any]:
    peak = _peak_mb()
    return {
        "mode": mode,
        "items": n,
        "mentions": mentions,
        "rss_after_imports_mb": round(base, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_minus_imports_mb": round(peak - base, 1),
        "feed_s": round(fed, 2),
        "total_s": round(total, 2),
        "items_per_s": round(n / total) if total else None,
        "heatmap_cells": {h.dimension: len(h.cells) for h in built},
        # Every answer is among each heatmap's items, and its cells share out every aspect mention.
        "cells_sum_ok": all(h.items == n and h.mentions == mentions == sum(c.mentions for c in h.cells) for h in built),
        "trend_weeks": len(weeks),
        "alerts_raised": len(raised),
        "alerts_by_kind": {k: sum(a.kind == k for a in state.alerts) for k in ("share", "rise", "severe")},
        "also_matched": sorted({rule for a in state.alerts for rule in a.also_matched}),
        "max_examples_per_alert": max((len(a.evidence.examples) for a in state.alerts), default=0),
        "followups": followups,
    }


def _child(mode: str, n: int, seed: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--mode", mode, "--n", str(n), "--seed", str(seed), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="results streamed (default 1,000,000)")
    parser.add_argument("--list-n", type=int, default=100_000, help="results of the list-based path")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--mode", choices=("stream", "list"), help="run one path in this process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.mode is not None:
        figures = (run_stream if args.mode == "stream" else run_list)(args.n, args.seed)
        print(json.dumps(figures, ensure_ascii=False) if args.json else figures)
        return

    load_before = os.getloadavg()[0]
    runs = [_child("stream", args.n, args.seed), _child("stream", args.list_n, args.seed)]
    runs.append(_child("list", args.list_n, args.seed))
    load_after = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"runs": runs, "load_before": load_before, "load_after": load_after}, ensure_ascii=False))
        return
    print(f"load average: {load_before:.2f} before, {load_after:.2f} after")
    print(
        f"{'path':<8}{'items':>10}{'base MB':>9}{'peak MB':>9}{'+MB':>8}{'time s':>8}{'items/s':>9}  alerts, follow-ups"
    )
    for run in runs:
        print(
            f"{run['mode']:<8}{run['items']:>10,}{run['rss_after_imports_mb']:>9.0f}{run['peak_rss_mb']:>9.0f}"
            f"{run['peak_minus_imports_mb']:>8.0f}{run['total_s']:>8.1f}{run['items_per_s']:>9,}  "
            f"{run['alerts_raised']} raised {run['alerts_by_kind']}, {run['followups']:,} follow-ups, "
            f"cells sum ok: {run['cells_sum_ok']}"
        )


if __name__ == "__main__":
    main()
