"""The NPS drop rule ([[nps_drop]]): a segment's NPS (% promoters 9-10 - % detractors 0-6) week on week,
at least `min_drop` points lower, with the volume in both weeks and a significant one-sided z test."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from nlp.alerts import Alert, AlertState, evaluate, load_rules, resolve, rules_from_dict
from nlp.alerts.stats import net_promoter_score, nps_drop_test
from nlp.errors import ConfigError
from nlp.resources import data_path
from nlp.schema import Result, Sentiment

NOW = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
WEEK_1, WEEK_2, WEEK_3 = "2026-10-05", "2026-10-12", "2026-10-19"

# Real answers of a food-delivery survey, by what the customer would score.
PROMOTER_TEXTS = ("送餐很准时，骑手小哥很有礼貌", "很快，好吃，味道足，量大", "味道不错，分量足，下次还点")
PASSIVE_TEXTS = ("还行吧，中规中矩", "味道一般，送得还算快")
DETRACTOR_TEXTS = ("送餐太慢了，等了两个小时，饭都凉了", "骑手态度很差，还把汤洒了", "菜是冷的，味道也一般")


def _answer(item_id: str, score: int, day: str, product: str) -> Result:
    if score >= 9:
        text, sentiment = PROMOTER_TEXTS[len(item_id) % 3], Sentiment("positive", 0.8, 0.1, "labels")
    elif score >= 7:
        text, sentiment = PASSIVE_TEXTS[len(item_id) % 2], Sentiment("neutral", 0.0, 0.4, "labels")
    else:
        text, sentiment = DETRACTOR_TEXTS[len(item_id) % 3], Sentiment("negative", -0.8, 0.9, "labels")
    meta = {"tier": "白银", "channel": "APP", "region": "华东", "product": product, "date": day, "nps": score}
    return Result(id=item_id, kind="survey", text=text, sentiment=sentiment, meta=meta)


def _week(day: str, promoters: int, passives: int, detractors: int, product: str = "外卖") -> list[Result]:
    """A week of answers: `promoters` scoring 9-10, `passives` 7-8, `detractors` 0-6."""
    scores = [9 + i % 2 for i in range(promoters)] + [7 + i % 2 for i in range(passives)]
    scores += [i % 7 for i in range(detractors)]
    return [_answer(f"{product}-{day}-{i}", s, day, product) for i, s in enumerate(scores)]


def _programme() -> Any:
    """The commented [[nps_drop]] rule of data/alerts.toml, uncommented."""
    text = data_path("alerts.toml").read_text(encoding="utf-8")
    block = text[text.index("# [[nps_drop]]") :].split("\n\n")[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    return rules_from_dict(tomllib.loads("\n".join(lines)))


PROGRAMME = _programme()


def _rules(**rule: Any) -> Any:
    return rules_from_dict({"nps_drop": [{"name": "nps_drop", "dimensions": ["product"], **rule}]})


# --- the test ------------------------------------------------------------------------------------------


def test_nps_is_promoters_minus_detractors_in_points() -> None:
    assert net_promoter_score(300, 48, 600) == pytest.approx(42.0)
    assert net_promoter_score(0, 30, 30) == -100.0
    with pytest.raises(ValueError, match="answers"):
        net_promoter_score(20, 20, 30)


def test_nps_drop_test_is_a_one_sided_z_test_on_the_mean_score() -> None:
    test = nps_drop_test(300, 48, 600, 240, 48, 600)
    assert (test.before, test.after, test.drop) == pytest.approx((42.0, 32.0, 10.0))
    # By hand: pooled mean 0.37, mean square 636/1200 = 0.53, variance 0.3931 * 1200/1199.
    spread = (0.3931 * 1200 / 1199 * (2 / 600)) ** 0.5
    assert test.z == pytest.approx(0.10 / spread, rel=1e-4)
    assert 0.001 < test.p_value < 0.005
    assert nps_drop_test(240, 48, 600, 300, 48, 600).p_value > 0.99, "a rise is no evidence of a drop"
    same = nps_drop_test(30, 0, 30, 40, 0, 40)  # every answer a promoter in both weeks
    assert (same.z, same.p_value) == (0.0, 1.0)


# --- the rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "raises"),
    [
        ((300, 252, 48), (240, 312, 48), True),  # 600 answers a week, NPS 42 → 32: p ≈ 0.003
        ((300, 252, 48), (288, 252, 60), False),  # 42 → 38: 4 points, short of min_drop 5
        ((300, 252, 48), (312, 240, 72), False),  # 42 → 40: a 2-point drop
        ((30, 25, 5), (24, 31, 5), False),  # 60 answers a week, 41.7 → 31.7: could be noise (p ≈ 0.19)
        ((300, 252, 48), (8, 15, 6), False),  # 42 → 7 but 29 answers this week: below min_volume 30
        ((240, 312, 48), (300, 252, 48), False),  # a rise
    ],
)
def test_a_product_whose_nps_drops_fires_with_volume_and_significance(
    before: tuple[int, int, int], after: tuple[int, int, int], raises: bool
) -> None:
    steady = _week(WEEK_1, 200, 100, 100, "图书") + _week(WEEK_2, 200, 100, 100, "图书")
    items = _week(WEEK_1, *before) + _week(WEEK_2, *after) + steady
    raised, _ = evaluate(items, PROGRAMME, AlertState(), NOW)
    drops = [a for a in raised if a.kind == "nps_drop"]
    assert len(drops) == int(raises)
    if not raises:
        return
    [alert] = drops
    assert (alert.rule, alert.theme, dict(alert.segment)) == ("product_nps_drop", None, {"product": "外卖"})
    assert (alert.window.start, alert.window.end) == (WEEK_2, "2026-10-18")
    assert alert.department == "客户体验部", "NPS has no theme: the default owner of the routing"
    evidence = alert.evidence
    assert (evidence.previous_nps, evidence.nps, evidence.threshold) == (42.0, 32.0, 37.0)
    assert (evidence.count, evidence.promoters, evidence.negatives) == (600, 240, 48)
    assert (evidence.previous_count, evidence.previous_promoters, evidence.previous_negatives) == (600, 300, 48)
    # Two products compared that week: Bonferroni tests each at 0.025.
    assert evidence.p_value is not None and evidence.p_value < 0.025
    assert evidence.reason.startswith("外卖 NPS 周环比下降 10.0 分（42.0 → 32.0），2026-10-12~2026-10-18")
    assert evidence.examples and all(x.text in DETRACTOR_TEXTS for x in evidence.examples)
    assert Alert.from_dict(alert.to_dict()) == alert


def test_bonferroni_over_the_cells_compared_that_week() -> None:
    # 42 → 32 with 400 answers a week: p ≈ 0.012 passes alone, not among 20 products compared (each at 0.0025).
    drop = _week(WEEK_1, 200, 168, 32) + _week(WEEK_2, 160, 208, 32)
    steady = [r for n in range(19) for day in (WEEK_1, WEEK_2) for r in _week(day, 20, 10, 10, f"品类{n}")]
    assert [a.segment for a in evaluate(drop, _rules(), AlertState(), NOW)[0]] == [{"product": "外卖"}]
    assert evaluate(drop + steady, _rules(), AlertState(), NOW)[0] == []
    assert len(evaluate(drop + steady, _rules(correction="none"), AlertState(), NOW)[0]) == 1


def _with_nps(result: Result, raw: object) -> Result:
    meta = {k: v for k, v in result.meta.items() if k != "nps"}
    return replace(result, meta=meta if raw is None else {**meta, "nps": raw})


def test_answers_without_an_nps_or_with_a_bad_one_take_no_part() -> None:
    # The second week's answers have no score: nothing to compare.
    items = _week(WEEK_1, 300, 252, 48) + [_with_nps(r, None) for r in _week(WEEK_2, 240, 312, 48)]
    assert evaluate(items, _rules(), AlertState(), NOW)[0] == []
    # A steady NPS of 42, and 200 more answers whose NPS is no score of 0-10 ("", 很好, -1, 12): read as
    # scores (-1 a detractor's, 12 a promoter's), they would make it 29.4, a drop of 12.6 points.
    odd = [
        replace(_with_nps(r, raw), id=f"odd-{i}")
        for i, (r, raw) in enumerate(zip(_week(WEEK_2, 200, 0, 0), ["", "很好", -1, -1, 12] * 40, strict=True))
    ]
    items = _week(WEEK_1, 300, 252, 48) + _week(WEEK_2, 300, 252, 48) + odd
    assert evaluate(items, _rules(), AlertState(), NOW)[0] == []


def test_all_answers_in_one_cell_and_the_rules_own_department() -> None:
    items = _week(WEEK_1, 150, 126, 24, "外卖") + _week(WEEK_1, 150, 126, 24, "图书")
    items += _week(WEEK_2, 120, 156, 24, "外卖") + _week(WEEK_2, 120, 156, 24, "图书")
    [alert] = evaluate(items, _rules(dimensions=[], department="客户体验委员会"), AlertState(), NOW)[0]
    assert (dict(alert.segment), alert.department, alert.evidence.count) == ({}, "客户体验委员会", 600)
    assert alert.evidence.reason.startswith("全部 NPS 周环比下降 10.0 分（42.0 → 32.0）")


def test_one_alert_per_ongoing_drop() -> None:
    """42 → 32 → 22: week 3 drops again. One alert, on the latest week; evaluated again later, the same
    alert is refreshed, and a resolved drop is not raised again."""
    weeks = _week(WEEK_1, 300, 252, 48) + _week(WEEK_2, 240, 312, 48)
    raised, state = evaluate(weeks, _rules(), AlertState(), NOW)
    [first] = raised
    assert first.window.start == WEEK_2
    later = datetime(2026, 10, 21, 9, 0, tzinfo=UTC)  # before the first alert's deadline
    raised, state = evaluate(weeks + _week(WEEK_3, 180, 372, 48), _rules(), state, later)
    assert raised == [] and len(state.alerts) == 1
    [alert] = state.alerts
    assert (alert.id, alert.window.start, alert.evidence.previous_nps, alert.evidence.nps) == (
        first.id,
        WEEK_3,
        32.0,
        22.0,
    )
    assert "NPS 仍周环比下降（32.0 → 22.0" in alert.history[-1].note
    state = state.with_alert(resolve(alert, "更换配送商，骑手培训", later))
    raised, state = evaluate(weeks + _week(WEEK_3, 180, 372, 48), _rules(), state, later)
    assert raised == [] and [a.status for a in state.alerts] == ["resolved"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"min_drop": 0}, "nps_drop[0].min_drop"),
        ({"dimensions": ["store"]}, "must be one of"),
        ({"min_volume": 0}, "nps_drop[0].min_volume"),
        ({"alpha": 0.9}, "nps_drop[0].alpha"),
    ],
)
def test_invalid_nps_drop_rules_name_the_key(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _rules(**rule)


def test_the_rule_is_off_by_default_and_documented_as_the_programmes() -> None:
    """One problem is one alert: the bundled rules leave NPS drops to the share and rise rules (the
    8-week replay raises exactly its one alert); data/alerts.toml has the programme's rule commented."""
    assert load_rules(data_path("alerts.toml")).nps_drop == ()
    [rule] = PROGRAMME.nps_drop
    assert (rule.name, rule.dimensions, rule.min_drop, rule.min_volume, rule.alpha, rule.correction) == (
        "product_nps_drop",
        ("product",),
        5.0,
        30,
        0.05,
        "bonferroni",
    )
