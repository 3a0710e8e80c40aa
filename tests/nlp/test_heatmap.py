"""The demand heatmap and the trend count aspect mentions, each with its own polarity."""

from __future__ import annotations

import gc
import random
import weakref
from typing import Any

import pytest

from nlp.config import HeatmapConfig
from nlp.heatmap import (
    UNASSIGNED,
    CellTally,
    HeatmapAccumulator,
    assemble_heatmap,
    build_heatmap,
    build_trend,
    column_of,
    iso_week,
    mentions_of,
    wilson_interval,
)
from nlp.schema import Aspect, Label, Result, Sentiment, TurnResult
from nlp.settings import Invalid
from nlp.themes import Theme

THEMES = [
    Theme("taste", "口味", ("味道", "好吃"), "厨房"),
    Theme("logistics", "物流配送", ("送餐", "骑手", "物流"), "物流部"),
    Theme("price", "价格优惠", ("价格",), "市场部"),
]
PROBABILITY: dict[Label, float] = {"negative": 0.9, "neutral": 0.5, "positive": 0.1}


def sentiment(label: Label, p: float | None = None) -> Sentiment:
    p = PROBABILITY[label] if p is None else p
    return Sentiment(label, 1 - 2 * p, p, "t")


def unit(text: str, theme: str | None, label: Label, p: float | None = None, term: str = "") -> Aspect:
    return Aspect(text, 0, len(text), term, "", sentiment(label, p), theme=theme)


def answer(id: str, units: list[Aspect], label: Label | None = None, **meta: Any) -> Result:
    """An answer made of its opinion units; its own label is its most negative unit's, unless given."""
    text = "，".join(u.text for u in units)
    worst = max(units, key=lambda u: u.sentiment.negative_probability).label if units else "neutral"
    themes = tuple(dict.fromkeys(u.theme for u in units if u.theme))
    return Result(id, "survey", text, sentiment(label or worst), themes=themes, meta=meta, aspects=tuple(units))


MIXED = answer(
    "m1",
    [unit("味道不错", "taste", "positive", 0.08), unit("但是送餐太慢了", "logistics", "negative", 0.93)],
    tier="黄金",
    date="2026-11-02",
)
RESULTS = [
    MIXED,
    answer(
        "m2",
        [
            unit("送餐太慢了", "logistics", "negative", 0.91),
            unit("骑手还不接电话", "logistics", "negative", 0.95),
            unit("等了一个多小时", "logistics", "negative", 0.88),
        ],
        tier="黄金",
        date="2026-11-03",
    ),
    answer("m3", [unit("价格太贵了", "price", "negative", 0.85), unit("味道一般", "taste", "neutral")], tier="白银"),
    answer("m4", [unit("还行吧", None, "neutral")], tier="白银", date="2026-11-10"),
    answer("m5", [unit("菜很好吃", "taste", "positive", 0.05)], tier="钻石", date="2026-11-10"),
]


def test_a_mixed_review_counts_positive_under_taste_and_negative_under_logistics() -> None:
    heatmap = build_heatmap([MIXED], THEMES, "tier")
    taste, logistics = heatmap.cell("taste", "黄金"), heatmap.cell("logistics", "黄金")
    assert taste is not None and logistics is not None
    assert (taste.mentions, taste.negatives, taste.negative_share) == (1, 0, 0.0)
    assert (logistics.mentions, logistics.negatives, logistics.negative_share) == (1, 1, 1.0)
    assert taste.mean_score == pytest.approx(1 - 2 * 0.08)
    assert logistics.examples == ("但是送餐太慢了",), "the unit, not the whole answer"
    assert heatmap.items == 1 and heatmap.mentions == 2


def test_mentions_and_items() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier")
    logistics = heatmap.cell("logistics", "黄金")
    assert logistics is not None
    assert (logistics.mentions, logistics.items, logistics.negatives) == (4, 2, 4)  # m1 once, m2 three times
    assert heatmap.items == len(RESULTS)
    assert heatmap.mentions == sum(c.mentions for c in heatmap.cells) == 2 + 3 + 2 + 1 + 1
    assert heatmap.cell("taste", "白银").mentions == 1  # type: ignore[union-attr]
    assert heatmap.cell("price", "白银").negative_share == 1.0  # type: ignore[union-attr]


def test_an_answer_without_a_themed_aspect_counts_once_in_unassigned_with_its_own_polarity() -> None:
    untouched = Result("e1", "survey", "", sentiment("neutral"), meta={"tier": "基础"})  # no aspects at all
    vague = answer("e2", [unit("一般般", None, "neutral"), unit("下次再说", None, "neutral")], "negative", tier="基础")
    heatmap = build_heatmap([untouched, vague], THEMES, "tier")
    cell = heatmap.cell(UNASSIGNED.id, "基础")
    assert cell is not None and (cell.mentions, cell.items, cell.negatives) == (2, 2, 1)
    assert heatmap.themes[-1] == UNASSIGNED
    assert cell.examples == ("一般般，下次再说",), "the whole answer, blank answers are not quoted"


def test_a_result_from_before_aspects_counts_once_under_each_of_its_themes() -> None:
    text = "物流太慢了，还比别家贵"
    old = Result("o1", "survey", text, sentiment("negative"), themes=("logistics", "price"), meta={"tier": "黄金"})
    assert [(m.theme, m.negative, m.text) for m in mentions_of(old)] == [
        ("logistics", True, text),
        ("price", True, text),
    ]
    heatmap = build_heatmap([old], THEMES, "tier")
    assert heatmap.items == 1 and heatmap.mentions == 2
    assert heatmap.cell("price", "黄金").negatives == 1  # type: ignore[union-attr]


def test_in_a_call_only_the_customers_units_are_mentions() -> None:
    agent = Aspect("如需投诉请拨打客服热线", 0, 11, "客服", "", sentiment("negative", 0.7), theme="service", turn=0)
    customer = Aspect("快递三天还没到", 0, 7, "快递", "没到", sentiment("negative", 0.95), theme="logistics", turn=1)
    call = Result(
        "c1", "transcript", "快递三天还没到", sentiment("negative"),
        turns=(
            TurnResult("agent", "如需投诉请拨打客服热线", sentiment("neutral")),
            TurnResult("customer", "快递三天还没到", sentiment("negative")),
        ),
        themes=("logistics", "service"), meta={"tier": "钻石"}, aspects=(agent, customer),
    )  # fmt: skip
    assert [(m.theme, m.text) for m in mentions_of(call)] == [("logistics", "快递三天还没到")]


@pytest.mark.parametrize(
    ("negatives", "mentions", "low", "high"),
    [
        (3, 10, 0.1078, 0.6032),
        (1, 1, 0.2065, 1.0),
        (0, 1, 0.0, 0.7935),
        (0, 20, 0.0, 0.1611),
        (150, 300, 0.4438, 0.5562),
    ],
)
def test_wilson_interval(negatives: int, mentions: int, low: float, high: float) -> None:
    assert wilson_interval(negatives, mentions) == pytest.approx((low, high), abs=5e-5)


def test_cells_carry_the_interval_and_are_sparse_below_min_mentions() -> None:
    angry = [answer(f"a{i}", [unit("送餐太慢了", "logistics", "negative")], tier="黄金") for i in range(3)]
    calm = [answer(f"c{i}", [unit("送得很快", "logistics", "positive")], tier="黄金") for i in range(7)]
    one = [answer("x", [unit("太咸了", "taste", "negative")], tier="黄金")]
    heatmap = build_heatmap(angry + calm + one, THEMES, "tier", HeatmapConfig(min_mentions=5))
    busy, single = heatmap.cell("logistics", "黄金"), heatmap.cell("taste", "黄金")
    assert busy is not None and single is not None
    assert (busy.negative_share_low, busy.negative_share_high) == pytest.approx((0.1078, 0.6032), abs=5e-5)
    assert not busy.sparse and single.sparse
    assert single.negative_share_high - single.negative_share_low > busy.negative_share_high - busy.negative_share_low
    data = single.to_dict()
    assert data["sparse"] is True and data["negative_share_low"] == 0.2065 and data["negative_share_high"] == 1.0


def test_tiers_are_in_their_order_whatever_their_volume() -> None:
    rows = [("基础", 9), ("VIP", 2), ("白银", 6), ("黄金", 3), ("钻石", 1), ("", 1), ("至尊", 4)]
    tiers: list[dict[str, Any]] = [{"tier": tier} if tier else {} for tier, n in rows for _ in range(n)]
    results = [answer(f"t{i}", [unit("味道不错", "taste", "positive")], **meta) for i, meta in enumerate(tiers)]
    assert build_heatmap(results, THEMES, "tier").columns == ("钻石", "黄金", "白银", "基础", "至尊", "VIP", "未知")
    custom = HeatmapConfig(tier_order=("VIP", "钻石"))
    assert build_heatmap(results, THEMES, "tier", custom).columns == (
        "VIP", "钻石", "基础", "白银", "至尊", "黄金", "未知",
    )  # fmt: skip


def test_weeks_are_in_time_order_numbers_in_numeric_order_others_by_mentions() -> None:
    dates = ["2027-01-04", "2027-01-02", "2026-11-10", "2026-11-02", "2026-11-03", ""]
    channels = ["APP", "电话回访", "电话回访", "微信", "电话回访", "微信"]
    results = [
        answer(f"w{i}", [unit("送餐太慢了", "logistics", "negative")], date=date, channel=channel, nps=str(10 - 4 * i))
        for i, (date, channel) in enumerate(zip(dates, channels, strict=True))
    ]
    assert build_heatmap(results, THEMES, "week").columns == ("2026-W45", "2026-W46", "2026-W53", "2027-W01", "未知")
    assert build_heatmap(results, THEMES, "channel").columns == ("电话回访", "微信", "APP")
    assert build_heatmap(results, THEMES, "nps").columns == ("-10", "-6", "-2", "2", "6", "10")
    assert build_heatmap(results, THEMES, "date").columns == (
        "2026-11-02", "2026-11-03", "2026-11-10", "2027-01-02", "2027-01-04", "未知",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("date", "week"),
    [
        ("2026-11-02", "2026-W45"),
        ("2026-01-01", "2026-W01"),
        ("2027-01-01", "2026-W53"),
        ("", None),
        ("昨天", None),
    ],
)
def test_iso_week(date: str, week: str | None) -> None:
    assert iso_week(date) == week


def test_priority_is_on_mentions_and_shrunk_toward_the_overall_share() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier", HeatmapConfig(prior_items=10.0))
    cell = heatmap.cell("logistics", "黄金")
    assert cell is not None
    overall = 5 / 9  # negative mentions: 4 logistics, 1 price; 9 mentions
    assert heatmap.negative_share == pytest.approx(overall)
    assert cell.priority == pytest.approx(4 * (4 + 10 * overall) / (4 + 10))


def test_priority_grows_with_volume_and_negativity() -> None:
    big = [
        answer(f"n{i}", [unit("物流慢", "logistics", "negative" if i % 5 < 3 else "positive")], tier="A")
        for i in range(200)
    ]
    small = [answer(f"s{i}", [unit("太贵了", "price", "negative")], tier="A") for i in range(2)]
    calm = [answer(f"c{i}", [unit("价格实惠", "price", "positive")], tier="B") for i in range(200)]
    heatmap = build_heatmap(big + small + calm, THEMES, "tier")
    busy, tiny, quiet = heatmap.cell("logistics", "A"), heatmap.cell("price", "A"), heatmap.cell("price", "B")
    assert busy is not None and tiny is not None and quiet is not None
    assert tiny.negative_share == 1.0 and busy.negative_share == pytest.approx(0.6)
    assert busy.priority > tiny.priority and busy.priority > quiet.priority


def test_quotes_are_distinct_units_most_negative_first() -> None:
    results = [
        answer("q1", [unit("送餐太慢了", "logistics", "negative", 0.90)], tier="黄金"),
        answer("q2", [unit("送餐太慢了", "logistics", "negative", 0.97)], tier="黄金"),
        answer(
            "q3",
            [unit("味道不错", "taste", "positive"), unit("骑手态度差", "logistics", "negative", 0.95)],
            tier="黄金",
        ),
        answer("q4", [unit("送得挺快", "logistics", "positive", 0.02)], tier="黄金"),
        answer("q5", [unit("包装破了", "logistics", "negative", 0.80)], tier="黄金"),
    ]
    cell = build_heatmap(results, THEMES, "tier", HeatmapConfig(examples_per_cell=3)).cell("logistics", "黄金")
    assert cell is not None and cell.examples == ("送餐太慢了", "骑手态度差", "包装破了")


def test_json_shape() -> None:
    data = build_heatmap(RESULTS, THEMES, "tier").to_dict()
    assert data["dimension"] == "tier" and (data["items"], data["mentions"]) == (5, 9)
    assert data["columns"] == ["钻石", "黄金", "白银"]
    assert [t["id"] for t in data["themes"]] == ["taste", "logistics", "price", "unassigned"]
    assert set(data["cells"][0]) >= {
        "theme", "column", "mentions", "items", "negatives", "negative_share", "negative_share_low",
        "negative_share_high", "mean_score", "priority", "sparse", "examples",
    }  # fmt: skip
    assert all(c["count"] == c["mentions"] for c in data["cells"])
    assert "aspect mentions" in data["counting"] and data["min_mentions"] == 5 and data["confidence"] == 0.95
    # Row by row, each row's cells in column order.
    assert [(c["theme"], c["column"]) for c in data["cells"]][:3] == [
        ("taste", "钻石"),
        ("taste", "黄金"),
        ("taste", "白银"),
    ]


def test_trend_counts_mentions_per_week_with_their_own_polarity() -> None:
    trend = build_trend(RESULTS, THEMES)
    assert trend.weeks == ("2026-W45", "2026-W46")
    [logistics] = trend.series["logistics"]
    assert (logistics.week, logistics.mentions, logistics.items, logistics.negative_share) == ("2026-W45", 4, 2, 1.0)
    assert [(p.week, p.mentions, p.negative_share) for p in trend.series["taste"]] == [
        ("2026-W45", 1, 0.0),
        ("2026-W46", 1, 0.0),
    ]
    assert "price" not in trend.series, "m3 has no date"
    assert trend.series[UNASSIGNED.id][0].mentions == 1
    data = trend.to_dict()
    assert data["series"][0]["label"] == "口味" and data["min_mentions"] == 5
    assert data["series"][1]["points"][0]["negative_share_low"] == pytest.approx(wilson_interval(4, 4)[0], abs=1e-4)


def test_the_theme_filter_keeps_that_themes_mentions() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier", theme="taste")
    assert {c.theme for c in heatmap.cells} == {"taste"}
    assert heatmap.items == 3 and heatmap.mentions == 3  # m1, m3, m5
    assert set(build_trend(RESULTS, THEMES, theme="logistics").series) == {"logistics"}


def test_config_is_checked() -> None:
    with pytest.raises(Invalid, match="confidence"):
        HeatmapConfig(confidence=95)
    with pytest.raises(Invalid, match="min_mentions"):
        HeatmapConfig(min_mentions=0)


# --- streaming: the accumulator behind build_heatmap / build_trend --------------------------------------

UNITS = (
    ("快递三天还没到", "logistics", 0.97),
    ("骑手不接电话", "logistics", 0.9),
    ("送得很快", "logistics", 0.05),
    ("  ", "logistics", 0.9),
    ("味道偏咸", "taste", 0.6),
    ("菜很好吃", "taste", 0.05),
    ("价格比上周贵了二十块", "price", 0.9),
    ("性价比高", "price", 0.3),
    ("分量太少了", "D07", 0.9),
    ("还行", None, 0.5),
)


def _stream(n: int, seed: int = 7) -> list[Result]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        units = []
        for text, theme, p in rng.sample(UNITS, rng.choice((0, 1, 1, 2, 3))):
            label: Label = "negative" if p > 0.55 else "positive" if p < 0.45 else "neutral"
            units.append(unit(text, theme, label, p))
        meta: dict[str, Any] = {
            "tier": rng.choice(("钻石", "黄金", "白银", "基础")),
            "channel": rng.choice(("APP", "电话")),
        }
        if rng.random() < 0.9:
            meta["date"] = f"2026-11-{rng.randint(1, 28):02d}"
        result = answer(f"r{i % 150}", units, **meta)
        if not units and rng.random() < 0.5:  # analysed before aspects: themes, no aspects
            themes = rng.choice((("logistics",), ("price", "logistics")))
            result = Result(result.id, "survey", "物流太慢了", sentiment("negative"), themes=themes, meta=meta)
        out.append(result)
    return out


def test_one_accumulator_gives_every_dimension_and_the_trend_as_the_builders_do() -> None:
    results = _stream(400)
    config = HeatmapConfig(examples_per_cell=2, example_chars=6)
    accumulator = HeatmapAccumulator(("tier", "week", "channel"), config)
    accumulator.update(iter(results[:123])).update(r for r in results[123:])  # a stream, in two pieces
    for dimension in ("tier", "week", "channel"):
        assert accumulator.heatmap(THEMES, dimension) == build_heatmap(results, THEMES, dimension, config)
    assert accumulator.heatmap(THEMES) == build_heatmap(results, THEMES, "tier", config)  # the first dimension
    assert accumulator.trend(THEMES) == build_trend(results, THEMES, config)
    assert accumulator.heatmap(THEMES, "tier") == accumulator.heatmap(THEMES, "tier")  # reading changes nothing
    assert "D07" in {t.id for t in accumulator.heatmap(THEMES).themes}, "a theme not listed still has its row"


def test_examples_are_bounded_and_the_most_negative_distinct_units_of_the_whole_cell() -> None:
    results = _stream(2000)
    config = HeatmapConfig(examples_per_cell=3, example_chars=8)
    accumulator = HeatmapAccumulator(("tier",), config).update(results)
    for (theme, column), tally in accumulator.tallies("tier").items():
        ranked = sorted(
            (-m.negative_probability, r.id, arrival, m.unit, m.text)
            for arrival, r in enumerate(results)
            if column_of(r, "tier", "未知") == column
            for m in mentions_of(r)
            if m.theme == theme
        )
        expected: list[str] = []
        for *_, text in ranked:
            flat = " ".join(text.split())
            flat = flat if len(flat) <= 8 else flat[:7] + "…"
            if flat and flat not in expected:
                expected.append(flat)
        assert tally.examples == tuple(expected[:3])
        assert tally.mentions == len(ranked)
        assert tally.items == len({arrival for _, _, arrival, _, _ in ranked})


def test_accumulator_keeps_no_result_alive() -> None:
    accumulator = HeatmapAccumulator(("tier", "week"))
    seen: list[weakref.ref[Result]] = []
    for result in _stream(300):
        seen.append(weakref.ref(result))
        accumulator.add(result)
    del result
    gc.collect()
    assert all(ref() is None for ref in seen)
    assert accumulator.items_ == 300


def test_heatmap_from_stored_tallies_equals_the_streamed_one() -> None:
    results = _stream(500)
    accumulator = HeatmapAccumulator(("channel",)).update(results)
    stored = {
        key: CellTally(t.mentions, t.items, t.negatives, t.score_sum, t.examples)
        for key, t in accumulator.tallies("channel").items()
    }
    assert assemble_heatmap("channel", THEMES, stored, len(results)) == build_heatmap(results, THEMES, "channel")
    assert build_heatmap([], THEMES, "tier").cells == () and build_trend(iter([]), THEMES).weeks == ()


def test_a_dimension_not_tallied_is_refused_with_the_ones_that_are() -> None:
    accumulator = HeatmapAccumulator(("tier",)).update(RESULTS)
    with pytest.raises(ValueError, match=r"'region' was not tallied.*\['tier'\]"):
        accumulator.heatmap(THEMES, "region")
    with pytest.raises(ValueError, match="no dimension"):
        HeatmapAccumulator().heatmap(THEMES)
