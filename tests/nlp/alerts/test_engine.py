"""The alert engine: share and rise rules on aspect mentions, severe rules, one alert per condition,
lifecycle, and an 8-week replay of real waimai_10k reviews (their labels stand in for the model: this
tests the engine). The follow-up list has its own tests (test_followups.py)."""

from __future__ import annotations

import csv
import gc
import random
import weakref
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kesheng.alerts_store import AlertStore, run_alerts
from nlp.alerts import (
    Alert,
    AlertAccumulator,
    AlertRules,
    AlertState,
    AlertTransitionError,
    acknowledge,
    evaluate,
    list_followups,
    load_rules,
    resolve,
    rules_from_dict,
)
from nlp.resources import data_path
from nlp.schema import Aspect, Emotion, EmotionLabel, Result, Sentiment, TurnResult

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WAIMAI = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "sentiment" / "waimai_10k.csv"

NEGATIVE_TEXTS = ("送餐太慢了，等了两个小时，饭都凉了", "骑手态度很差，还把汤洒了", "菜是冷的，味道也一般")
POSITIVE_TEXTS = ("很快，好吃，味道足，量大", "送餐很准时，骑手小哥很有礼貌", "味道不错，分量足")


def _sentiment(negative: bool, probability: float) -> Sentiment:
    return Sentiment("negative" if negative else "positive", 1 - 2 * probability, probability, "labels")


def _aspect(
    text: str, theme: str | None, negative: bool, probability: float, emotion: EmotionLabel | None = None
) -> Aspect:
    """One opinion unit; its term/opinion do not matter to the engine (the theme and label do)."""
    return Aspect(
        text,
        0,
        len(text),
        "",
        "",
        _sentiment(negative, probability),
        None if emotion is None else Emotion(emotion),
        theme,
    )


def _result(
    item_id: str,
    negative: bool,
    *,
    theme: str = "物流配送",
    region: str = "华东",
    day: str = "2026-10-12",
    tier: str = "白银",
    text: str | None = None,
    probability: float | None = None,
    emotion: EmotionLabel | None = None,
    nps: int | None = None,
    aspects: tuple[Aspect, ...] | None = None,
) -> Result:
    """An answer as the pipeline gives it: by default one opinion unit, the whole text, about `theme`
    with the answer's own label (pass `aspects` for more, or () for a result without aspects)."""
    p = probability if probability is not None else (0.8 if negative else 0.2)
    pool = NEGATIVE_TEXTS if negative else POSITIVE_TEXTS
    meta: dict[str, Any] = {"tier": tier, "channel": "APP", "region": region, "product": "外卖", "date": day}
    if nps is not None:
        meta["nps"] = nps
    body = text if text is not None else pool[hash(item_id) % len(pool)]
    units = aspects if aspects is not None else (_aspect(body, theme, negative, p, emotion),)
    return Result(
        id=item_id,
        kind="survey",
        text=body,
        sentiment=_sentiment(negative, p),
        emotion=None if emotion is None else Emotion(emotion),
        themes=tuple(dict.fromkeys(a.theme for a in units if a.theme)) or (theme,),
        meta=meta,
        aspects=units,
    )


def _cell(prefix: str, negatives: int, count: int, **kwargs: Any) -> list[Result]:
    return [_result(f"{prefix}-{i}", i < negatives, **kwargs) for i in range(count)]


def _rules(**data: Any) -> AlertRules:
    return rules_from_dict({"routing": {"themes": {"物流": "供应链管理部", "服务态度": "客服中心"}}, **data})


SHARE_ONLY = {"share": [{"name": "share", "dimensions": ["region"], "threshold": 0.5, "min_volume": 20}]}


# --- share rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("negatives", "count", "threshold", "min_volume", "raises"),
    [
        (3, 4, 0.5, 1, False),  # 75 % of 4: the lower bound (36 %) is far below the threshold
        (3, 4, 0.25, 1, True),  # ... but above 25 % it is (one-sided Wilson 35.6 %)
        (300, 1000, 0.25, 20, True),  # 30 % of 1,000: lower bound 27.7 % > 25 %
        (260, 1000, 0.25, 20, False),  # 26 % of 1,000: above the threshold, not significantly
        (16, 20, 0.5, 20, True),
        (12, 20, 0.5, 20, False),  # 60 % of 20: could be noise around 50 %
        (19, 19, 0.5, 20, False),  # below the minimum volume, however bad
    ],
)
def test_share_rule_needs_volume_and_a_significant_excess(
    negatives: int, count: int, threshold: float, min_volume: int, raises: bool
) -> None:
    rules = _rules(share=[{"name": "share", "threshold": threshold, "min_volume": min_volume}])
    raised, _ = evaluate(_cell("q", negatives, count), rules, AlertState(), NOW)
    assert len(raised) == int(raises)
    if raises:
        evidence = raised[0].evidence
        assert (evidence.count, evidence.negatives) == (count, negatives)
        assert evidence.lower_bound is not None and threshold < evidence.lower_bound < evidence.share


def test_share_rule_splits_by_theme_segment_and_window() -> None:
    items = (
        _cell("a", 18, 24, theme="物流配送", region="华东", day="2026-10-12")
        + _cell("b", 18, 24, theme="服务态度", region="华东", day="2026-10-19")  # next week
        + _cell("c", 4, 24, theme="物流配送", region="华南", day="2026-10-13")
    )
    raised, _ = evaluate(items, _rules(**SHARE_ONLY), AlertState(), NOW)
    found = {(a.theme, a.segment["region"], a.window.start, a.window.end, a.department) for a in raised}
    assert found == {
        ("物流配送", "华东", "2026-10-12", "2026-10-18", "供应链管理部"),
        ("服务态度", "华东", "2026-10-19", "2026-10-25", "客服中心"),
    }


# Mixed reviews: the answer reads positive overall, its delivery unit is a complaint.
MIXED = (
    ("味道不错，但是送餐太慢了，等了一个半小时", "味道不错", "但是送餐太慢了，等了一个半小时"),
    ("菜很好吃，就是骑手送错地址了", "菜很好吃", "就是骑手送错地址了"),
    ("口味一如既往的好，配送却越来越慢", "口味一如既往的好", "配送却越来越慢"),
)


def _mixed_review(item_id: str, complaint: bool, day: str = "2026-10-13") -> Result:
    text, praise, delivery = MIXED[int(item_id.rsplit("-", 1)[-1]) % len(MIXED)]
    units = (
        _aspect(praise, "菜品口味", False, 0.05),
        _aspect(delivery, "物流配送", complaint, 0.9 if complaint else 0.3),
    )
    return _result(item_id, False, text=text, probability=0.3, day=day, aspects=units)


def test_share_rule_counts_aspect_mentions_not_the_answer_label() -> None:
    """30 answers, every one positive overall; 24 complain about delivery in one clause."""
    items = [_mixed_review(f"m-{i}", i < 24) for i in range(30)]
    assert all(r.sentiment.label == "positive" for r in items)
    raised, _ = evaluate(items, _rules(**SHARE_ONLY), AlertState(), NOW)
    assert [(a.theme, a.evidence.negatives, a.evidence.count, a.department) for a in raised] == [
        ("物流配送", 24, 30, "供应链管理部")
    ]
    # The examples quote the delivery unit, not the whole answer (which would also praise the taste).
    assert {e.text for e in raised[0].evidence.examples} <= {delivery for _, _, delivery in MIXED}
    assert "负面提及占比 80.0% (24/30)" in raised[0].evidence.reason
    # Read at the answer level (no aspects), the same answers are all positive and raise nothing.
    whole = [replace(r, aspects=()) for r in items]
    assert evaluate(whole, _rules(**SHARE_ONLY), AlertState(), NOW)[0] == []


def test_every_mention_counts_and_a_segment_rule_counts_mentions_too() -> None:
    """Two negative delivery units in one answer are two 物流 mentions; the positive taste unit counts in
    the segment, so a segment share is over all themed mentions."""
    double = (
        _aspect("送餐太慢了", "物流配送", True, 0.9),
        _aspect("骑手还把汤洒了", "物流配送", True, 0.85),
        _aspect("不过味道还行", "菜品口味", False, 0.2),
    )
    items = [_result(f"d-{i}", True, aspects=double) for i in range(10)]
    rules = _rules(
        share=[
            {"name": "theme", "dimensions": ["region"], "threshold": 0.5, "min_volume": 20},
            {"name": "region", "per_theme": False, "dimensions": ["region"], "threshold": 0.5, "min_volume": 20},
        ]
    )
    raised, _ = evaluate(items, rules, AlertState(), NOW)
    found = {(a.rule, a.theme, a.evidence.negatives, a.evidence.count) for a in raised}
    assert found == {("theme", "物流配送", 20, 20), ("region", None, 20, 30)}


def test_results_without_themed_aspects_count_as_before() -> None:
    """No aspects (stored before them), or units no theme covers: the answer counts under its themes."""
    unthemed = (_aspect("太差劲了", None, True, 0.9),)
    items = [_result(f"u-{i}", i < 18, aspects=() if i % 2 else unthemed) for i in range(24)]
    raised, _ = evaluate(items, _rules(**SHARE_ONLY), AlertState(), NOW)
    assert [(a.theme, a.evidence.negatives, a.evidence.count) for a in raised] == [("物流配送", 18, 24)]


def test_examples_are_the_most_negative_distinct_texts() -> None:
    texts = ["送餐太慢了", "送餐太慢了", "骑手把汤洒了一袋子", "等了两个小时还没到", "饭菜是凉的"]
    items = [_result(f"x{i}", True, text=texts[i % 5], probability=0.99 - i / 100) for i in range(20)] + _cell(
        "ok", 0, 4
    )
    raised, _ = evaluate(items, _rules(**SHARE_ONLY), AlertState(), NOW)
    assert [(e.id, e.text) for e in raised[0].evidence.examples] == [
        ("x0", "送餐太慢了"),
        ("x2", "骑手把汤洒了一袋子"),
        ("x3", "等了两个小时还没到"),
    ]


def test_day_windows_and_detractor_signal() -> None:
    rules = _rules(
        share=[
            {
                "name": "nps_day",
                "window": "day",
                "per_theme": False,
                "dimensions": ["region"],
                "signal": "detractor",
                "threshold": 0.5,
                "min_volume": 20,
            }
        ]
    )
    # Positive texts but NPS 3: the detractor signal reads the NPS, not the sentiment.
    bad_day = [_result(f"d{i}", False, day="2026-10-14", nps=3 if i < 20 else 9) for i in range(25)]
    no_nps = [_result(f"n{i}", True, day="2026-10-15") for i in range(30)]
    raised, _ = evaluate(bad_day + no_nps, rules, AlertState(), NOW)
    assert [(a.window.start, a.window.end, a.evidence.negatives, a.evidence.count) for a in raised] == [
        ("2026-10-14", "2026-10-14", 20, 25)
    ]


@pytest.mark.parametrize(
    ("negatives", "raises"),
    [
        (12, False),  # 12/30 = 40 % > baseline 18.3 % + 10 points, but the lower bound is 26.7 %
        (18, True),  # 60 %: lower bound 45.1 % > baseline 20.9 % + 10 points
    ],
)
def test_baseline_threshold_is_a_margin_over_the_window(negatives: int, raises: bool) -> None:
    rules = _rules(share=[{"name": "lift", "dimensions": ["region"], "baseline": "window", "threshold": 0.1}])
    others = _cell("s", 20, 100, region="华南") + _cell("n", 10, 100, region="华北")
    raised, _ = evaluate(_cell("e", negatives, 30) + others, rules, AlertState(), NOW)
    assert [a.segment["region"] for a in raised] == (["华东"] if raises else [])
    if raises:
        evidence = raised[0].evidence
        assert evidence.baseline == round((negatives + 30) / 230, 4)
        assert evidence.threshold == pytest.approx(evidence.baseline + 0.1, abs=1e-4)


def test_planted_demo_cell_fires_on_nps_alone() -> None:
    """data/samples/survey.csv: 外卖 · 华东 goes bad in the last two weeks (see its README)."""
    items = []
    with data_path("samples", "survey.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            meta = {
                "tier": row["客户等级"],
                "channel": row["渠道"],
                "region": row["区域"],
                "date": row["日期"],
            }
            meta |= {"product": row["产品线"], "nps": int(row["NPS评分"])}
            neutral = Sentiment("neutral", 0.0, 0.5, "none")  # no model: only the NPS rules can fire
            items.append(Result(id=row["编号"], kind="survey", text=row["回答"], sentiment=neutral, meta=meta))
    raised, _ = evaluate(items, load_rules(data_path("alerts.toml")), AlertState(), NOW)
    # Both weeks breach: one alert for the ongoing condition, on its latest week, naming the earlier one.
    [alert] = raised
    assert (alert.rule, dict(alert.segment), alert.window.start) == (
        "product_region_nps_week",
        {"product": "外卖", "region": "华东"},
        "2026-11-09",
    )
    assert "此前已超限：2026-11-02–2026-11-08" in alert.history[-1].note


# --- rise rule ----------------------------------------------------------------------------------------

RISE_ONLY = {"rise": [{"name": "rise", "min_rise": 0.15, "min_volume": 20, "alpha": 0.05}]}


@pytest.mark.parametrize(
    ("before", "after", "raises"),
    [
        ((9, 30), (21, 30), True),  # 30 % → 70 %: p ≈ 0.001
        ((9, 30), (13, 30), False),  # 30 % → 43 %: less than 15 points
        ((9, 30), (15, 30), False),  # 30 % → 50 %: 20 points, but p ≈ 0.06
        ((21, 30), (9, 30), False),  # a fall is not a rise
        ((3, 10), (21, 30), False),  # the week before is too small to compare
    ],
)
def test_rise_rule_is_week_on_week_and_significant(
    before: tuple[int, int], after: tuple[int, int], raises: bool
) -> None:
    items = _cell("w1", *before, day="2026-10-05") + _cell("w2", *after, day="2026-10-12")
    raised, _ = evaluate(items, _rules(**RISE_ONLY), AlertState(), NOW)
    assert len(raised) == int(raises)
    if raises:
        evidence = raised[0].evidence
        assert (evidence.previous_negatives, evidence.previous_count) == before
        assert evidence.p_value is not None and evidence.p_value < 0.05
        assert raised[0].window.start == "2026-10-12"


def test_share_and_rise_on_the_same_cell_make_one_alert() -> None:
    items = _cell("w1", 9, 30, day="2026-10-05") + _cell("w2", 27, 30, day="2026-10-12")
    raised, _ = evaluate(items, _rules(**SHARE_ONLY, **RISE_ONLY), AlertState(), NOW)
    assert [(a.rule, a.also_matched) for a in raised] == [("share", ("rise",))]


# --- severe items -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "text", "probability", "emotion", "raises"),
    [
        ("钻石", "热水器漏电，孩子的手被电到受伤了", 0.95, "fear", True),
        ("VIP", "吃完你们家的外卖全家食物中毒，我要找律师起诉", 0.97, "angry", True),
        ("钻石", "再不给我退款我就打12315投诉你们！", 0.9, "angry", True),
        ("钻石", "净水器漏水三次了，一直没人来修，太失望了", 0.95, "sad", False),  # a follow-up, not an alert
        ("钻石", "我要投诉你们的快递员，态度恶劣", 0.95, "angry", False),  # 投诉 is everyday feedback
        ("基础", "热水器漏电，孩子的手被电到受伤了", 0.95, "fear", False),  # not a top tier (by default)
        ("钻石", "还好孩子没有受伤，师傅处理得很及时", 0.1, None, False),  # names 受伤, but is praise
    ],
)
def test_severe_items_are_the_words_the_rules_name_in_a_top_tier_complaint(
    tier: str, text: str, probability: float, emotion: EmotionLabel | None, raises: bool
) -> None:
    rules = load_rules(data_path("alerts.toml"))
    item = _result("s1", probability > 0.5, tier=tier, text=text, probability=probability, emotion=emotion)
    raised, _ = evaluate([item], rules, AlertState(), NOW)
    assert len(raised) == int(raises)
    if raises:
        alert = raised[0]
        assert (alert.kind, alert.item_id, alert.segment["tier"]) == ("severe", "s1", tier)
        assert datetime.fromisoformat(alert.deadline) - NOW == timedelta(hours=24)
        assert alert.evidence.examples[0].text == text
        assert alert.department == "供应链管理部"  # theme 物流配送


def test_a_single_negative_top_tier_answer_is_no_department_alert() -> None:
    """The old rule paged a department for each of these; now they are follow-ups (test_followups.py)."""
    rules = load_rules(data_path("alerts.toml"))
    items = [
        _result(f"t{i}", True, tier="钻石", text="净水器漏水三次了，一直没人来修，太失望了", probability=0.99)
        for i in range(5)
    ]
    assert evaluate(items, rules, AlertState(), NOW)[0] == []


def test_the_severe_unit_names_the_theme_and_is_the_quote() -> None:
    """A long answer: the unit naming the word is what the alert quotes, and its theme is the alert's."""
    rules = _rules(severe=[{"name": "severe"}])
    units = (
        _aspect("配送挺快的", "物流配送", False, 0.1),
        _aspect("但是热水器漏电，把我手烫伤了", "产品质量", True, 0.97, "angry"),
    )
    item = _result(
        "s9", False, tier="VIP", text="配送挺快的，但是热水器漏电，把我手烫伤了", probability=0.4, aspects=units
    )
    raised, _ = evaluate([item], rules, AlertState(), NOW)
    assert [(a.theme, a.evidence.examples[0].text) for a in raised] == [("产品质量", "但是热水器漏电，把我手烫伤了")]
    assert raised[0].evidence.reason == "单条严重反馈 s9：VIP客户提到 烫伤/漏电（负面概率 0.97，情绪为愤怒）"


def test_complaint_words_count_only_from_the_customer_in_a_call() -> None:
    rules = load_rules(data_path("alerts.toml"))
    angry = Sentiment("negative", -0.9, 0.95, "labels")

    def call(customer: str) -> Result:
        turns = (
            TurnResult(
                "agent", "您好，如对处理结果不满意，也可拨打12315反映", Sentiment("neutral", 0.0, 0.2, "labels")
            ),
            TurnResult("customer", customer, angry),
        )
        text = "\n".join(t.text for t in turns)
        meta = {"tier": "钻石", "date": "2026-11-02"}
        return Result(
            id="c1", kind="transcript", text=text, sentiment=angry, turns=turns, emotion=Emotion("angry"), meta=meta
        )

    assert evaluate([call("净水器漏水了，你们到底管不管！")], rules, AlertState(), NOW)[0] == []
    raised, _ = evaluate([call("再不处理我就打12315！")], rules, AlertState(), NOW)
    assert [a.item_id for a in raised] == ["c1"]


@pytest.mark.parametrize(
    ("emotions", "emotion", "raises"),
    [
        ([], "sad", True),  # no emotion named: any
        (["angry"], "angry", True),
        (["愤怒"], "angry", True),  # a rules file written with the Chinese names still works
        (["sad", "愤怒"], "sad", True),
        (["angry"], "sad", False),  # disappointment is not anger
        (["愤怒"], "fear", False),
    ],
)
def test_severe_emotions_accept_classes_or_chinese_names(
    emotions: list[str], emotion: EmotionLabel, raises: bool
) -> None:
    rules = _rules(severe=[{"name": "severe", "top_tiers": [], "emotions": emotions}])
    item = _result("s1", True, text="退款拖了一个月，再不处理我就打12315投诉", probability=0.85, emotion=emotion)
    raised, _ = evaluate([item], rules, AlertState(), NOW)
    assert len(raised) == int(raises)
    if raises:
        name = {"angry": "愤怒", "sad": "失望"}[emotion]
        assert raised[0].evidence.reason == f"单条严重反馈 s1：白银客户提到 12315（负面概率 0.85，情绪为{name}）"


# --- deadlines, lifecycle, dedup and cooldown --------------------------------------------------------


@pytest.mark.parametrize(("tier", "hours"), [("钻石", 24), ("黄金", 48)])
def test_deadline_is_shorter_for_a_top_tier_segment(tier: str, hours: int) -> None:
    rules = _rules(share=[{"name": "tier", "per_theme": False, "dimensions": ["tier"], "min_volume": 20}])
    raised, _ = evaluate(_cell("t", 20, 24, tier=tier), rules, AlertState(), NOW)
    assert datetime.fromisoformat(raised[0].deadline) - NOW == timedelta(hours=hours)


def _one_alert() -> tuple[Alert, AlertState, AlertRules]:
    rules = _rules(**SHARE_ONLY, cooldown_hours=168)
    raised, state = evaluate(_cell("q", 20, 24), rules, AlertState(), NOW)
    assert len(raised) == 1
    return raised[0], state, rules


def test_lifecycle_open_acknowledged_resolved_with_audit_trail() -> None:
    alert, _, _ = _one_alert()
    acked = acknowledge(alert, "供应链管理部 张工 已接单，排查华东站点", NOW + timedelta(hours=2))
    done = resolve(acked, "更换华东配送服务商，超时率回落", NOW + timedelta(hours=30))
    assert [(h.status, h.note) for h in done.history][1:] == [
        ("acknowledged", "供应链管理部 张工 已接单，排查华东站点"),
        ("resolved", "更换华东配送服务商，超时率回落"),
    ]
    assert done.status == "resolved" and done.updated_at == (NOW + timedelta(hours=30)).isoformat()
    with pytest.raises(AlertTransitionError, match="resolved to acknowledged"):
        acknowledge(done, "again", NOW)
    with pytest.raises(AlertTransitionError, match="needs a note"):
        resolve(acked, "  ", NOW)


def test_overdue_alert_is_escalated_then_expired() -> None:
    alert, state, rules = _one_alert()
    _, later = evaluate([], rules, state, NOW + timedelta(hours=49))
    escalated = later.alerts[0]
    assert (escalated.status, escalated.escalated, escalated.escalated_to) == ("open", True, "客户体验委员会")
    _, much_later = evaluate([], rules, later, NOW + timedelta(hours=48 + 73))
    assert much_later.alerts[0].status == "expired"
    # An acknowledged alert is not escalated: the department answered in time.
    acked = state.with_alert(acknowledge(alert, "已接单", NOW + timedelta(hours=1)))
    _, quiet = evaluate([], rules, acked, NOW + timedelta(hours=200))
    assert (quiet.alerts[0].status, quiet.alerts[0].escalated) == ("acknowledged", False)


def test_persisting_condition_updates_its_alert_instead_of_raising_another() -> None:
    alert, state, rules = _one_alert()
    more = _cell("q", 20, 24) + _cell("r", 10, 10)
    raised, updated = evaluate(more, rules, state, NOW + timedelta(hours=3))
    assert raised == [] and len(updated.alerts) == 1
    refreshed = updated.alerts[0]
    assert (refreshed.id, refreshed.evidence.count, refreshed.evidence.negatives) == (alert.id, 34, 30)
    assert "20/24 → 30/34" in refreshed.history[-1].note


def test_cooldown_after_resolution_suppresses_the_next_window() -> None:
    alert, state, rules = _one_alert()
    state = state.with_alert(resolve(alert, "已整改", NOW + timedelta(hours=5)))
    next_week = _cell("n", 20, 24, day="2026-10-19")
    raised, _ = evaluate(next_week, rules, state, NOW + timedelta(hours=6))
    assert raised == []
    raised, _ = evaluate(next_week, rules, state, NOW + timedelta(hours=5 + 169))
    assert [a.window.start for a in raised] == ["2026-10-19"]
    # The resolved window itself never raises again, cooldown or not.
    raised, _ = evaluate(_cell("q", 20, 24), rules, state, NOW + timedelta(days=60))
    assert raised == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate([], _rules(), AlertState(), datetime(2026, 11, 2, 9))


# --- the 8-week replay --------------------------------------------------------------------------------

THEME_WORDS = {
    "物流配送": ("送", "骑手", "慢", "分钟", "小时"),
    "菜品口味": ("味", "咸", "辣", "淡", "香"),
    "服务态度": ("态度", "客服", "服务", "商家"),
}
# Weekly volume per theme: three busy regions and one small one.
REGIONS = {"华东": 36, "华南": 40, "华北": 40, "西北": 4}
WEEK1 = date(2026, 9, 7)
JUMP_WEEK = 6
BASE_SHARE = 0.3
JUMP_SHARE = 0.8


def _pools() -> dict[tuple[str, bool], list[str]]:
    if not WAIMAI.is_file():
        pytest.skip("public data set ../shared/data/sentiment/waimai_10k.csv not present")
    pools: dict[tuple[str, bool], list[str]] = {(t, n): [] for t in THEME_WORDS for n in (True, False)}
    with WAIMAI.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            text = " ".join(row["review"].split())
            theme = next((t for t, words in THEME_WORDS.items() if any(w in text for w in words)), None)
            if theme and text:
                pools[(theme, row["label"] == "0")].append(text)
    return pools


@pytest.fixture(scope="module")
def timeline() -> list[Result]:
    """8 weeks × 4 regions × 3 themes of real reviews; 物流配送 · 华东 goes bad in week 6 only."""
    pools = _pools()
    rng = random.Random(20261102)
    items: list[Result] = []
    for week in range(1, 9):
        for region, volume in REGIONS.items():
            for theme in THEME_WORDS:
                planted = week == JUMP_WEEK and region == "华东" and theme == "物流配送"
                count = volume if volume < 10 else volume + rng.randint(-4, 4)
                share = JUMP_SHARE if planted else BASE_SHARE
                negatives = 3 if volume < 10 and week == 3 else round(count * share) + rng.randint(-3, 3)
                for i in range(count):
                    negative = i < negatives
                    day = WEEK1 + timedelta(weeks=week - 1, days=rng.randrange(7))
                    items.append(
                        _result(
                            f"w{week}-{region}-{theme}-{i}",
                            negative,
                            theme=theme,
                            region=region,
                            day=day.isoformat(),
                            tier=("钻石", "黄金", "白银", "基础")[i % 4],
                            text=rng.choice(pools[(theme, negative)]),
                            nps=2 if negative else 9,
                        )
                    )
    return items


def _week_end(week: int) -> datetime:
    return datetime.combine(WEEK1 + timedelta(weeks=week), datetime.min.time(), UTC) + timedelta(hours=9)


def test_replay_raises_one_alert_for_the_jump_routed_and_dated(timeline: list[Result]) -> None:
    rules = load_rules(data_path("alerts.toml"))
    raised, state = evaluate(timeline, rules, AlertState(), NOW)
    assert len(raised) == 1, [a.evidence.reason for a in raised]
    alert = raised[0]
    jump_start = WEEK1 + timedelta(weeks=JUMP_WEEK - 1)
    assert (alert.theme, dict(alert.segment)) == ("物流配送", {"region": "华东"})
    assert (alert.window.start, alert.window.end) == (
        jump_start.isoformat(),
        (jump_start + timedelta(6)).isoformat(),
    )
    assert (alert.department, alert.status) == ("供应链管理部", "open")
    assert datetime.fromisoformat(alert.deadline) == NOW + timedelta(hours=48)
    assert alert.rule == "theme_region_week" and "theme_region_rise" in alert.also_matched
    planted = [r for r in timeline if r.id.startswith(f"w{JUMP_WEEK}-华东-物流配送-")]
    assert alert.evidence.count == len(planted)
    assert alert.evidence.negatives == sum(r.sentiment.label == "negative" for r in planted)
    assert 1 <= len(alert.evidence.examples) <= 3
    assert {e.id for e in alert.evidence.examples} <= {r.id for r in planted if r.sentiment.label == "negative"}
    # Counted on aspect mentions, as the pipeline builds results: each complaint is a negative 物流 unit.
    assert all(len(r.aspects) == 1 and r.aspects[0].theme == "物流配送" for r in planted)
    assert alert.evidence.negatives == sum(r.aspects[0].label == "negative" for r in planted)
    # The diamond customers' complaints of those 8 weeks are follow-ups (24 h), not alerts.
    followups = list_followups(timeline, rules, NOW)
    diamonds = {r.id for r in timeline if r.meta["tier"] == "钻石" and r.sentiment.label == "negative"}
    assert diamonds and {f.item_id for f in followups} == diamonds
    assert {f.due for f in followups} == {(NOW + timedelta(hours=24)).isoformat()}
    # Replaying the same data raises nothing new and changes nothing.
    again, state_again = evaluate(timeline, rules, state, NOW)
    assert again == [] and state_again == state


def test_replay_week_by_week_raises_only_in_week_six(timeline: list[Result], tmp_path: Path) -> None:
    rules = load_rules(data_path("alerts.toml"))
    store = AlertStore(tmp_path / "state" / "alerts.json")
    raised_by_week: dict[int, int] = {}
    for week in range(1, 9):
        now = _week_end(week)
        seen = [r for r in timeline if r.meta["date"] < (WEEK1 + timedelta(weeks=week)).isoformat()]
        raised, state = evaluate(seen, rules, store.load(), now)
        raised_by_week[week] = len(raised)
        if raised:
            state = state.with_alert(acknowledge(raised[0], "供应链管理部已接单", now + timedelta(hours=3)))
        store.save(state)
        assert store.load() == state
    assert raised_by_week == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 1, 7: 0, 8: 0}
    final = store.load()
    assert [(a.status, a.escalated) for a in final.alerts] == [("acknowledged", False)]


def test_run_alerts_uses_the_default_rules_and_the_state_file(timeline: list[Result], tmp_path: Path) -> None:
    state_path = tmp_path / "alerts_state.json"
    first = run_alerts(timeline, load_rules(None), state_path, NOW)
    second = run_alerts(timeline, load_rules(None), state_path, NOW + timedelta(hours=1))
    assert len(first) == 1 and [a.id for a in second] == [first[0].id]
    assert second[0].history == first[0].history  # nothing new happened to it
    assert first[0].to_dict()["evidence"]["count"] == first[0].evidence.count
    assert not list(tmp_path.glob(".*.tmp"))


def test_small_samples_and_noise_raise_nothing(timeline: list[Result]) -> None:
    rules = load_rules(data_path("alerts.toml"))
    calm = [r for r in timeline if not r.id.startswith(f"w{JUMP_WEEK}-华东-物流配送-")]
    small = [r for r in timeline if r.meta["region"] == "西北"]
    assert evaluate(calm, rules, AlertState(), NOW)[0] == []
    assert evaluate(small, rules, AlertState(), NOW)[0] == []
    # The state round-trips through its dict form (the JSON store's format).
    _, state = evaluate(timeline, rules, AlertState(), NOW)
    assert AlertState.from_dict(state.to_dict()) == state


# --- streaming: the accumulator behind evaluate --------------------------------------------------------

SEVERE_ITEMS: tuple[tuple[str, str, str, float, EmotionLabel], ...] = (
    ("sv1", "钻石", "热水器漏电，孩子的手被电到受伤了", 0.95, "fear"),
    ("sv2", "VIP", "再不给我退款我就打12315投诉你们！", 0.97, "angry"),
    ("sv3", "钻石", "吃完你们家的外卖全家食物中毒，我要找律师起诉", 0.9, "angry"),
)
LIFT: dict[str, Any] = {
    "name": "lift",
    "per_theme": False,
    "dimensions": ["region"],
    "baseline": "window",
    "threshold": 0.1,
}
RULE_SETS: dict[str, dict[str, Any]] = {
    "share": SHARE_ONLY,
    "baseline": {"share": [LIFT]},
    "rise": RISE_ONLY,
    "severe": {"severe": [{"name": "severe"}]},
    "all": {**SHARE_ONLY, **RISE_ONLY, "severe": [{"name": "severe"}], "max_examples": 5},
}


def _mixed(timeline: list[Result]) -> list[Result]:
    """The replay, a region well above its week's baseline, and three severe items."""
    lifted = _cell("lift", 22, 30, region="华中", day="2026-10-12") + _cell(
        "calm", 30, 100, region="东北", day="2026-10-12"
    )
    severe = [
        _result(i, True, tier=tier, text=text, probability=p, emotion=emotion, day="2026-10-14")
        for i, tier, text, p, emotion in SEVERE_ITEMS
    ]
    return timeline + lifted + severe


@pytest.mark.parametrize("rule_set", sorted(RULE_SETS))
def test_accumulated_alerts_equal_the_list_based_ones(rule_set: str, timeline: list[Result]) -> None:
    rules = _rules(**RULE_SETS[rule_set])
    items = _mixed(timeline)
    raised, state = evaluate(items, rules, AlertState(), NOW)
    assert raised, "the rule set should fire on this data"
    accumulator = AlertAccumulator(rules)
    for result in (r for r in items[: len(items) // 2]):  # one at a time, from a stream
        accumulator.add(result)
    accumulator.update(iter(items[len(items) // 2 :]))
    assert accumulator.evaluate(AlertState(), NOW) == (raised, state)
    assert accumulator.evaluate(AlertState(), NOW) == (raised, state)  # evaluating changes nothing
    assert accumulator.followups(NOW) == list_followups(items, rules, NOW)
    # Later, from the saved state: the same refreshes, cooldowns and deadlines as the list-based path.
    later = NOW + timedelta(hours=50)
    acked = state.with_alert(acknowledge(raised[0], "已接单", NOW + timedelta(hours=1)))
    assert accumulator.evaluate(acked, later) == evaluate(items, rules, acked, later)


def _expected_examples(members: list[Result], limit: int, chars: int) -> list[tuple[str, str]]:
    """What the evidence should show: the most negative bad items, one per distinct shortened text."""
    shown: dict[str, str] = {}
    for r in sorted(
        (r for r in members if r.sentiment.label == "negative"), key=lambda r: (-r.sentiment.negative_probability, r.id)
    ):
        text = r.text if len(r.text) <= chars else r.text[: chars - 1] + "…"
        if len(shown) < limit:
            shown.setdefault(text, r.id)
    return [(item_id, text) for text, item_id in shown.items()]


def test_evidence_of_a_big_cell_is_computed_from_the_whole_stream_with_bounded_examples() -> None:
    rng = random.Random(11)
    # Texts that differ only past the example length show as one (the evidence dedupes what it shows).
    complaints = [f"第{n % 5}次催单了，骑手还没到，订单号{n}" for n in range(9)]
    week1 = [_result(f"a{i:04d}", i % 10 < 3, day="2026-10-05") for i in range(2000)]
    week2 = [
        _result(
            f"b{i:04d}",
            i % 10 < 7,
            day="2026-10-13",
            text=rng.choice(complaints),
            probability=round(rng.uniform(0.5, 1), 3),
        )
        for i in range(3000)
    ]
    others = _cell("o", 600, 3000, region="华南", day="2026-10-13")
    items = week1 + week2 + others
    rules = _rules(
        share=[{**LIFT, "per_theme": True}], rise=[{"name": "rise", "min_rise": 0.15}], max_examples=4, example_chars=12
    )
    accumulator = AlertAccumulator(rules)
    for result in items:
        accumulator.add(result)
    raised, _ = accumulator.evaluate(AlertState(), NOW)
    assert [(a.rule, a.window.start, a.also_matched) for a in raised] == [("lift", "2026-10-12", ("rise",))]
    evidence = raised[0].evidence
    assert (evidence.count, evidence.negatives) == (3000, 2100)
    assert evidence.baseline == round((2100 + 600) / 6000, 4)
    assert [(e.id, e.text) for e in evidence.examples] == _expected_examples(week2, 4, 12)
    rise = evaluate(
        items, _rules(rise=[{"name": "rise", "min_rise": 0.15}], max_examples=4, example_chars=12), AlertState(), NOW
    )
    rise_evidence = rise[0][0].evidence
    assert (rise_evidence.previous_negatives, rise_evidence.previous_count, rise_evidence.previous_share) == (
        600,
        2000,
        0.3,
    )
    assert rise_evidence.examples == evidence.examples


def test_accumulator_keeps_no_result_alive(timeline: list[Result]) -> None:
    rules = load_rules(data_path("alerts.toml"))
    accumulator = AlertAccumulator(rules)
    seen: list[weakref.ref[Result]] = []
    for template in _mixed(timeline):
        result = replace(template, meta=dict(template.meta))  # a fresh object, dropped after adding
        seen.append(weakref.ref(result))
        accumulator.add(result)
    del result
    gc.collect()
    assert all(ref() is None for ref in seen)
    raised, _ = accumulator.evaluate(AlertState(), NOW)
    assert {a.kind for a in raised} == {"share", "severe"} and {a.item_id for a in raised} >= {"sv1", "sv2", "sv3"}


# --- one alert per ongoing condition; a theme against itself elsewhere -----------------------------

WEEKLY = {"share": [{"name": "weekly", "per_theme": True, "dimensions": [], "threshold": 0.5, "min_volume": 20}]}


def _week(start: str, negatives: int, total: int, region: str = "华东") -> list[Result]:
    day = date.fromisoformat(start)
    return [
        _result(f"{start}-{region}-{i}", i < negatives, region=region, day=(day + timedelta(days=i % 7)).isoformat())
        for i in range(total)
    ]


def test_a_condition_that_goes_on_is_one_alert_refreshed_week_by_week() -> None:
    rules = rules_from_dict(WEEKLY)
    first, state = evaluate(_week("2026-10-05", 30, 40), rules, AlertState(), NOW)
    assert [a.window.start for a in first] == ["2026-10-05"]
    # The next week breaches again (the service evaluates its stored results after each batch).
    later = _week("2026-10-05", 30, 40) + _week("2026-10-12", 32, 40)
    again, state = evaluate(later, rules, state, NOW + timedelta(hours=20))
    assert again == [], "still open: the same condition is not raised twice"
    [alert] = state.alerts
    assert alert.window.start == "2026-10-12" and alert.evidence.negatives == 32
    assert alert.history[-1].note.startswith("条件持续：2026-10-12–2026-10-18 仍超限")
    # Resolved, then past the cooldown, a new breach is a new alert.
    state = AlertState((resolve(acknowledge(alert, "已联系物流商", NOW), "已解决", NOW + timedelta(days=1)),))
    month = later + _week("2026-11-02", 35, 40)
    fresh, state = evaluate(month, rules, state, NOW + timedelta(days=30))
    assert [a.window.start for a in fresh] == ["2026-11-02"]


def test_a_region_is_compared_with_the_same_theme_elsewhere() -> None:
    regional = {
        "share": [
            {"name": "theme_region_week", "per_theme": True, "dimensions": ["region"], "baseline": "theme",
             "threshold": 0.15, "min_volume": 20}
        ]
    }  # fmt: skip
    rules = rules_from_dict(regional)
    # 物流配送 is 60 % negative in every region: a problem of the theme, not of a region.
    everywhere = [r for region in ("华东", "华南", "华北") for r in _week("2026-10-05", 24, 40, region)]
    raised, _ = evaluate(everywhere, rules, AlertState(), NOW)
    assert raised == []
    # 华南 at 90 % while the others stay at 60 %: 华南's alert, and only that one.
    south = [r for region in ("华东", "华北") for r in _week("2026-10-05", 24, 40, region)]
    south += _week("2026-10-05", 36, 40, "华南")
    [alert] = evaluate(south, rules, AlertState(), NOW)[0]
    assert dict(alert.segment) == {"region": "华南"} and alert.evidence.baseline == pytest.approx(0.6)
    assert "该主题其他区域本期 60.0% + 15%" in alert.evidence.reason
