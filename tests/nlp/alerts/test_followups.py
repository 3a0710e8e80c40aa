"""The follow-up list (回访清单): single answers to call back — who, which aspect, which emotion, how
negative, by when — instead of one department alert per negative top-tier answer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nlp.alerts import AlertRules, AlertState, Followup, evaluate, list_followups, load_rules, rules_from_dict
from nlp.alerts.rules import Routing
from nlp.resources import data_path
from nlp.schema import Aspect, CallReading, Emotion, EmotionLabel, Result, Sentiment, TurnResult

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LABELS = {"logistics": "物流配送", "quality": "产品质量", "service": "服务态度", "price": "价格优惠"}
ROUTES = {"logistics": "供应链管理部", "quality": "品质管理部", "service": "客服中心", "price": "市场部"}


def _rules(**data: Any) -> AlertRules:
    """The bundled rules (or `data`), routed by theme id as a taxonomy routes them."""
    rules = rules_from_dict(data) if data else load_rules(data_path("alerts.toml"))
    return replace(rules, routing=Routing("客户体验部", ROUTES))


def _sentiment(probability: float, label: str | None = None) -> Sentiment:
    name = label or ("negative" if probability > 0.5 else "positive")
    return Sentiment(name, 1 - 2 * probability, probability, "labels")  # type: ignore[arg-type]


def _unit(
    text: str,
    theme: str | None,
    probability: float,
    term: str = "",
    opinion: str = "",
    emotion: EmotionLabel | None = None,
    turn: int | None = None,
) -> Aspect:
    emotion_value = None if emotion is None else Emotion(emotion)
    return Aspect(text, 0, len(text), term, opinion, _sentiment(probability), emotion_value, theme, turn)


def _answer(item_id: str, tier: str, units: tuple[Aspect, ...], probability: float, **meta: Any) -> Result:
    text = "，".join(u.text for u in units)
    base = {"tier": tier, "channel": "APP", "region": "华东", "product": "外卖", "date": "2026-11-01"}
    return Result(
        id=item_id,
        kind="survey",
        text=text,
        sentiment=_sentiment(probability),
        themes=tuple(dict.fromkeys(u.theme for u in units if u.theme)),
        meta={**base, **meta},
        aspects=units,
    )


LATE = _unit("送餐太慢了，等了一个半小时", "logistics", 0.93, "送餐", "慢", "angry")
TASTY = _unit("味道还可以", None, 0.12, "味道", "可以")


def test_a_negative_diamond_answer_is_a_follow_up_not_an_alert() -> None:
    """The answer carries a note naming the customer and a redacted phone in its meta: neither is
    'who' — the entry names the item and its segment only."""
    rules = _rules()
    answer = _answer("Q17", "钻石", (LATE, TASTY), 0.81, 联系电话="[手机号]", 备注="老客户王先生", nps=2)
    assert evaluate([answer], rules, AlertState(), NOW)[0] == []
    [entry] = list_followups([answer], rules, NOW, LABELS)
    assert (entry.item_id, entry.kind, entry.reasons) == ("Q17", "survey", ("top_tier_negative",))
    assert dict(entry.segment) == {"tier": "钻石", "channel": "APP", "region": "华东", "product": "外卖"}
    assert entry.aspect is not None
    assert (entry.aspect.theme, entry.aspect.theme_label, entry.aspect.term, entry.aspect.opinion) == (
        "logistics",
        "物流配送",
        "送餐",
        "慢",
    )
    assert entry.text == entry.aspect.text == "送餐太慢了，等了一个半小时"
    assert (entry.emotion, entry.emotion_name, entry.negative_probability) == ("angry", "愤怒", 0.93)
    assert entry.department == "供应链管理部"
    assert datetime.fromisoformat(entry.due) - NOW == timedelta(hours=24) and entry.deadline_hours == 24
    assert entry.listed_at == NOW.isoformat() and entry.date == "2026-11-01"
    assert entry.reason == "钻石客户负面反馈「送餐太慢了，等了一个半小时」（负面概率 0.93）"
    written = json.dumps(entry.to_dict(), ensure_ascii=False)
    assert "王先生" not in written and "联系电话" not in written
    assert Followup.from_dict(json.loads(written)) == entry


@pytest.mark.parametrize(
    ("tier", "units", "probability", "listed"),
    [
        ("钻石", (LATE,), 0.93, True),
        ("VIP", (_unit("客服态度很差，问了三遍都不回答", "service", 0.88, "客服", "态度差", "angry"),), 0.88, True),
        ("黄金", (LATE,), 0.99, False),  # not a top tier: its complaints count in the share rules
        ("钻石", (_unit("包装有点简陋", "quality", 0.62, "包装", "简陋"),), 0.62, False),  # mildly negative
        ("钻石", (_unit("价格实惠，下次还买", "price", 0.05),), 0.05, False),
        # Positive overall, but the delivery unit is a strong complaint: listed on the unit.
        ("钻石", (TASTY, _unit("就是骑手把汤洒了一袋子", "logistics", 0.91, "骑手", "洒")), 0.4, True),
        # No aspects at all (stored before them): the answer's own reading decides.
        ("钻石", (), 0.95, True),
    ],
)
def test_who_enters_the_list(tier: str, units: tuple[Aspect, ...], probability: float, listed: bool) -> None:
    answer = _answer("A1", tier, units, probability)
    if not units:
        answer = replace(answer, text="太让人失望了，再也不买了")
    entries = list_followups([answer], _rules(), NOW, LABELS)
    assert len(entries) == int(listed)
    if listed and not units:
        assert entries[0].aspect is None and entries[0].text == "太让人失望了，再也不买了"
        assert entries[0].department == "客户体验部"


def _abnormal_call(item_id: str, tier: str) -> Result:
    agent = TurnResult("agent", "很抱歉让您久等了，请问有什么可以帮您", _sentiment(0.3, "neutral"))
    customer = TurnResult("customer", "净水器又漏水了，你们到底管不管", _sentiment(0.9), emotion=Emotion("angry"))
    return Result(
        id=item_id,
        kind="transcript",
        text=f"{agent.text}\n{customer.text}",
        sentiment=_sentiment(0.7),
        turns=(agent, customer),
        emotion=Emotion("angry"),
        meta={"tier": tier, "channel": "电话回访", "region": "华南", "product": "净水器", "date": "2026-11-02"},
        call=CallReading("neutral", "angry", abnormal=True, reasons=("ends_angry",)),
        aspects=(
            # The agent's apology is not the customer's opinion, however negative it reads.
            _unit("很抱歉让您久等了", "service", 0.97, turn=0),
            _unit("净水器又漏水了", "quality", 0.9, "净水器", "漏水", "angry", turn=1),
        ),
    )


def test_an_abnormal_call_of_any_tier_is_listed_with_its_tier_deadline() -> None:
    [entry] = list_followups([_abnormal_call("call-9", "白银")], _rules(), NOW, LABELS)
    assert entry.reasons == ("abnormal_call",)
    assert entry.aspect is not None and (entry.aspect.theme_label, entry.aspect.text) == ("产品质量", "净水器又漏水了")
    assert (entry.department, entry.trajectory) == ("品质管理部", "情绪由平转怒")
    assert datetime.fromisoformat(entry.due) - NOW == timedelta(hours=48), "白银: the normal deadline"
    assert entry.reason == "异常通话：客户以愤怒结束通话"
    [diamond] = list_followups([_abnormal_call("call-10", "钻石")], _rules(), NOW, LABELS)
    assert diamond.reasons == ("top_tier_negative", "abnormal_call")
    assert datetime.fromisoformat(diamond.due) - NOW == timedelta(hours=24)


def test_the_list_is_ordered_by_due_time_then_negativity_and_lists_an_item_once() -> None:
    results = [
        _abnormal_call("call-9", "白银"),
        _answer("Q1", "钻石", (_unit("快递三天还没到", "logistics", 0.85, "快递", "没到"),), 0.85),
        _answer("Q2", "VIP", (_unit("退款一直不到账", "service", 0.97, "退款", "不到账"),), 0.97),
        _answer("Q1", "钻石", (_unit("快递三天还没到", "logistics", 0.85, "快递", "没到"),), 0.85),  # a second file
    ]
    assert [f.item_id for f in list_followups(results, _rules(), NOW, LABELS)] == ["Q2", "Q1", "call-9"]


def test_the_entry_is_about_the_worst_themed_unit_and_lists_the_others() -> None:
    """ "太差了" says how bad, not what: the entry is about the worst unit with a theme (it has an owner)."""
    units = (
        _unit("快递三天还没到", "logistics", 0.85, "快递", "没到"),
        _unit("客服电话一直打不通", "service", 0.95, "客服电话", "打不通", "angry"),
        _unit("太差了", None, 0.97, "", "差"),
        _unit("价格倒是便宜", "price", 0.1),
    )
    [entry] = list_followups([_answer("Q5", "钻石", units, 0.9)], _rules(), NOW, LABELS)
    assert entry.aspect is not None and entry.aspect.theme == "service" and entry.department == "客服中心"
    assert (entry.emotion_name, entry.negative_probability) == ("愤怒", 0.97)
    assert [(a.theme_label, a.text) for a in entry.other_aspects] == [(None, "太差了"), ("物流配送", "快递三天还没到")]


@pytest.mark.parametrize(
    ("followups", "expected"),
    [
        ({}, ["Q1", "call-9"]),
        ({"enabled": False}, []),
        ({"abnormal_calls": False}, ["Q1"]),
        ({"tiers": ["白银"]}, ["call-9"]),  # the call is white-tier and negative enough too; Q1 is not called
        ({"min_negative_probability": 0.95}, ["call-9"]),
    ],
)
def test_which_answers_enter_is_configuration(followups: dict[str, Any], expected: list[str]) -> None:
    rules = _rules(followups=followups)
    results = [_answer("Q1", "钻石", (LATE,), 0.93), _abnormal_call("call-9", "白银")]
    assert sorted(f.item_id for f in list_followups(results, rules, NOW)) == sorted(expected)
