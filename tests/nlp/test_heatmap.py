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
    top_theme,
)
from nlp.schema import Label, Result, Sentiment
from nlp.themes import Theme

THEMES = [
    Theme("logistics", "物流配送", ("物流", "快递"), "物流部"),
    Theme("price", "价格优惠", ("价格",), "市场部"),
]
PROBABILITY: dict[Label, float] = {"negative": 0.9, "neutral": 0.5, "positive": 0.1}


def item(id: str, themes: tuple[str, ...], label: Label, text: str = "", **meta: Any) -> Result:
    p = PROBABILITY[label]
    return Result(id, "survey", text or id, Sentiment(label, 1 - 2 * p, p, "t"), themes=themes, meta=meta)


RESULTS = [
    item("a", ("logistics", "price"), "negative", "物流太慢了，等了一周", tier="黄金", date="2026-11-02"),
    item("b", ("logistics",), "positive", "快递很快", tier="黄金", date="2026-11-03"),
    item("c", ("price",), "negative", "价格太贵", tier="白银", date="2026-11-10"),
    item("d", (), "neutral", "还行吧", date="2026-11-10"),
    item("e", ("price", "logistics"), "positive", "便宜实惠", tier="白银"),
]


def test_counts_add_up_and_multi_theme_items_count_once_under_their_top_theme() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier")
    assert sum(c.count for c in heatmap.cells) == len(RESULTS)
    assert heatmap.cell("logistics", "黄金") is not None
    assert heatmap.cell("logistics", "黄金").count == 2  # type: ignore[union-attr]
    assert heatmap.cell("price", "白银").count == 2  # type: ignore[union-attr]
    assert heatmap.cell("price", "黄金") is None  # a is counted under logistics only


def test_missing_dimension_goes_to_unknown_column_and_themeless_items_to_unassigned() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier")
    assert heatmap.columns[-1] == "未知"
    assert heatmap.themes[-1] == UNASSIGNED
    assert heatmap.cell("unassigned", "未知").count == 1  # type: ignore[union-attr]


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


def test_week_dimension_is_derived_from_date() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "week")
    assert heatmap.columns == ("2026-W45", "2026-W46", "未知")
    assert heatmap.cell("logistics", "2026-W45").count == 2  # type: ignore[union-attr]


def test_cell_values_and_priority_formula() -> None:
    heatmap = build_heatmap(RESULTS, THEMES, "tier", HeatmapConfig(prior_items=10.0))
    cell = heatmap.cell("logistics", "黄金")
    assert cell is not None
    assert cell.negative_share == pytest.approx(0.5)
    assert cell.mean_score == pytest.approx(((1 - 1.8) + (1 - 0.2)) / 2)
    overall = 2 / 5
    assert cell.priority == pytest.approx(2 * (1 + 10 * overall) / (2 + 10))
    assert cell.examples[0] == "物流太慢了，等了一周"  # most negative first


def test_priority_grows_with_volume_and_negativity() -> None:
    big = [item(f"n{i}", ("logistics",), "negative" if i % 5 < 3 else "positive", tier="A") for i in range(200)]
    small = [item(f"s{i}", ("price",), "negative", tier="A") for i in range(2)]
    calm = [item(f"c{i}", ("price",), "positive", tier="B") for i in range(200)]
    heatmap = build_heatmap(big + small + calm, THEMES, "tier")
    busy, tiny, quiet = heatmap.cell("logistics", "A"), heatmap.cell("price", "A"), heatmap.cell("price", "B")
    assert busy is not None and tiny is not None and quiet is not None
    assert tiny.negative_share == 1.0 and busy.negative_share == pytest.approx(0.6)
    assert busy.priority > tiny.priority
    assert busy.priority > quiet.priority


def test_json_shape() -> None:
    data = build_heatmap(RESULTS, THEMES, "tier").to_dict()
    assert data["dimension"] == "tier"
    assert [t["id"] for t in data["themes"]] == ["logistics", "price", "unassigned"]
    assert set(data["themes"][0]) >= {"id", "label", "keywords"}
    assert set(data["cells"][0]) >= {"theme", "column", "count", "negative_share", "mean_score", "priority"}
    assert "top theme" in data["counting"]


def test_trend_per_week() -> None:
    trend = build_trend(RESULTS, THEMES)
    assert trend.weeks == ("2026-W45", "2026-W46")
    logistics = trend.series["logistics"]
    assert [(p.week, p.count, p.negative_share) for p in logistics] == [("2026-W45", 2, 0.5)]
    assert trend.series["price"][0].negative_share == 1.0
    assert trend.to_dict()["series"][0]["label"] == "物流配送"


# --- streaming: the accumulator behind build_heatmap / build_trend --------------------------------------

COMPLAINTS = (
    "快递三天还没到",
    "客服一直不回消息",
    "  ",
    "包装破了，东西也坏了",
    "价格比上周贵了二十块",
    "退款拖了半个月",
)


def _stream(n: int, seed: int = 7) -> list[Result]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.choice((0.97, 0.9, 0.9, 0.6, 0.3, 0.05))
        label: Label = "negative" if p > 0.5 else "positive"
        meta: dict[str, Any] = {
            "tier": rng.choice(("钻石", "黄金", "白银", "基础")),
            "channel": rng.choice(("APP", "电话")),
        }
        if rng.random() < 0.9:
            meta["date"] = f"2026-11-{rng.randint(1, 28):02d}"
        themes = rng.choice(((), ("logistics",), ("price", "logistics"), ("售后服务",)))
        text = rng.choice(COMPLAINTS)
        out.append(Result(f"r{i % 150}", "survey", text, Sentiment(label, 1 - 2 * p, p, "t"), themes=themes, meta=meta))
    return out


def test_one_accumulator_gives_every_dimension_and_the_trend_as_the_builders_do() -> None:
    results = _stream(400)
    config = HeatmapConfig(examples_per_cell=2, example_chars=6)
    accumulator = HeatmapAccumulator(("tier", "week", "channel"), config)
    accumulator.update(iter(results[:123])).update(r for r in results[123:])  # a stream, in two pieces
    for dimension in ("tier", "week", "channel"):
        assert accumulator.heatmap(THEMES, dimension) == build_heatmap(results, THEMES, dimension, config)
    assert accumulator.heatmap(THEMES) == build_heatmap(results, THEMES, "tier", config)  # the first dimension
    assert accumulator.trend(THEMES) == build_trend(results, THEMES)
    assert accumulator.heatmap(THEMES, "tier") == accumulator.heatmap(THEMES, "tier")  # reading changes nothing


def test_examples_are_bounded_and_the_most_negative_of_the_whole_cell() -> None:
    results = _stream(2000)
    config = HeatmapConfig(examples_per_cell=3, example_chars=8)
    accumulator = HeatmapAccumulator(("tier",), config).update(results)
    for (theme, column), tally in accumulator.tallies("tier").items():
        members = [r for r in results if top_theme(r) == theme and column_of(r, "tier", "未知") == column]
        ranked = sorted(members, key=lambda r: (-r.sentiment.negative_probability, r.id))[:3]
        # A blank answer among the most negative keeps its place but shows nothing.
        flat = [" ".join(r.text.split()) for r in ranked]
        expected = tuple(text if len(text) <= 8 else text[:7] + "…" for text in flat)
        assert tally.examples == tuple(e for e in expected if e)
        assert len(tally.examples) <= 3 and tally.count == len(members)


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
        key: CellTally(t.count, t.negatives, t.score_sum, t.examples)
        for key, t in accumulator.tallies("channel").items()
    }
    negatives = sum(r.sentiment.label == "negative" for r in results)
    assert assemble_heatmap("channel", THEMES, stored, len(results), negatives) == build_heatmap(
        results, THEMES, "channel"
    )
    assert build_heatmap([], THEMES, "tier").cells == () and build_trend(iter([]), THEMES).weeks == ()


def test_a_dimension_not_tallied_is_refused_with_the_ones_that_are() -> None:
    accumulator = HeatmapAccumulator(("tier",)).update(RESULTS)
    with pytest.raises(ValueError, match=r"'region' was not tallied.*\['tier'\]"):
        accumulator.heatmap(THEMES, "region")
    with pytest.raises(ValueError, match="no dimension"):
        HeatmapAccumulator().heatmap(THEMES)
