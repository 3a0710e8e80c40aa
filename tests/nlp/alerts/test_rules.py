"""The rules file: the bundled defaults, routing, and validation errors that name key and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlp.alerts.rules import Routing, load_rules, rules_from_dict
from nlp.errors import ConfigError
from nlp.resources import data_path


def test_default_rules_load_with_the_documented_defaults() -> None:
    rules = load_rules(data_path("alerts.toml"))
    assert [r.name for r in rules.share] == [
        "theme_region_week",
        "theme_week",
        "product_region_lift_week",
        "product_region_nps_week",
        "tier_nps_week",
    ]
    regional = rules.share[0]  # a theme in one region against the same theme elsewhere, + 15 points
    assert (regional.baseline, regional.threshold, regional.min_volume) == ("theme", 0.15, 20)
    assert (rules.share[1].baseline, rules.share[1].threshold) == ("none", 0.5)
    assert rules.rise[0].min_rise == 0.15 and rules.rise[0].correction == "bonferroni"
    severe = rules.severe[0]
    assert {"起诉", "律师", "12315", "投诉到消协", "食物中毒", "受伤", "爆炸", "媒体曝光"} <= set(severe.keywords)
    assert not {"投诉", "退款"} & set(severe.keywords), "everyday complaint words page nobody"
    assert (severe.top_tiers, severe.emotions) == (("钻石", "VIP"), ())
    assert (rules.followups.enabled, rules.followups.min_negative_probability, rules.followups.abnormal_calls) == (
        True,
        0.8,
        True,
    )
    assert rules.followup_tiers == rules.deadlines.top_tiers, "follow-up tiers default to the top tiers"
    assert (rules.deadlines.default_hours, rules.deadlines.top_tier_hours) == (48, 24)
    assert "钻石" in rules.deadlines.top_tiers
    assert rules.webhook.url == "" and rules.webhook.secret_env == "KESHENG_WEBHOOK_SECRET"


@pytest.mark.parametrize(
    ("theme", "department"),
    [
        ("物流配送", "供应链管理部"),  # contains 物流
        ("物流时效", "供应链管理部"),  # a discovered theme
        ("服务态度", "客服中心"),
        ("售后退换", "售后服务部"),
        ("产品质量", "品质管理部"),
        ("发票开具", "客户体验部"),  # nothing matches: the default owner
        (None, "客户体验部"),
    ],
)
def test_default_routing(theme: str | None, department: str) -> None:
    assert load_rules(data_path("alerts.toml")).routing.department_for(theme) == department


def test_exact_theme_wins_over_a_contained_key() -> None:
    routing = Routing(default_department="客户体验部", themes={"服务": "客服中心", "售后服务": "售后服务部"})
    assert routing.department_for("售后服务") == "售后服务部"
    assert routing.department_for("服务态度") == "客服中心"


@pytest.mark.parametrize(
    ("data", "key", "value"),
    [
        ({"share": [{"name": "s", "threshold": 1.5}]}, "share[0].threshold", "1.5"),
        ({"share": [{"name": "s", "threshold": 1}]}, "share[0].threshold", "1"),
        ({"share": [{"name": "s", "min_volume": 0}]}, "share[0].min_volume", "0"),
        ({"share": [{"name": "s", "min_volume": "20"}]}, "share[0].min_volume", "'20'"),
        ({"share": [{"name": "s", "window": "month"}]}, "share[0].window", "'month'"),
        ({"share": [{"name": "s", "dimensions": ["城市"]}]}, "share[0].dimensions", "'城市'"),
        ({"share": [{"name": "s", "per_theme": False, "dimensions": []}]}, "share[0].dimensions", "[]"),
        ({"share": [{"name": "s", "thresold": 0.5}]}, "share[0].thresold", "0.5"),  # a typo is not ignored
        ({"share": [{"threshold": 0.5}]}, "share[0].name", "None"),
        ({"share": [{"name": "s"}, {"name": "s"}]}, "name", "'s'"),
        ({"rise": [{"name": "r", "alpha": 0}]}, "rise[0].alpha", "0"),
        ({"rise": [{"name": "r", "correction": "holm"}]}, "rise[0].correction", "'holm'"),
        (
            {"severe": [{"name": "v", "min_negative_probability": 1.5}]},
            "severe[0].min_negative_probability",
            "1.5",
        ),
        ({"severe": [{"name": "v", "keywords": []}]}, "severe[0].keywords", "[]"),
        ({"followups": {"min_negative_probability": -0.1}}, "followups.min_negative_probability", "-0.1"),
        ({"followups": {"tiers": "钻石"}}, "followups.tiers", "'钻石'"),
        ({"followups": {"abnormal": True}}, "followups.abnormal", "True"),
        ({"severe": [{"name": "v", "emotions": ["生气"]}]}, "severe[0].emotions", "['生气']"),
        ({"deadlines": {"default_hours": -4}}, "deadlines.default_hours", "-4"),
        ({"deadlines": {"top_tiers": "钻石"}}, "deadlines.top_tiers", "'钻石'"),
        ({"routing": {"themes": {"物流": ""}}}, "routing.themes.物流", "''"),
        (
            {"escalation": {"grace_hours": 80, "expire_after_hours": 72}},
            "escalation.expire_after_hours",
            "72",
        ),
        ({"webhook": {"url": "ftp://example.com/hook"}}, "webhook.url", "'ftp://example.com/hook'"),
        ({"webhook": {"max_attempts": 0}}, "webhook.max_attempts", "0"),
        ({"cooldown_hours": "一周"}, "cooldown_hours", "'一周'"),
        ({"share": {"name": "s"}}, "share", "{'name': 's'}"),
    ],
)
def test_invalid_settings_name_the_key_and_the_value(data: dict[str, Any], key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        rules_from_dict(data, "my_alerts.toml")
    message = str(caught.value)
    assert message.startswith(f"my_alerts.toml: {key} = {value}:"), message
    assert "E200" in message


def test_a_bad_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.toml"
    broken.write_text('[[share]]\nname = "s"\nthreshold = \n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"alerts\.toml: not valid TOML"):
        load_rules(broken)
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "missing.toml")


def test_a_minimal_file_gets_defaults(tmp_path: Path) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text('[[share]]\nname = "only"\n\n[routing.themes]\n"物流" = "供应链"\n', encoding="utf-8")
    rules = load_rules(path)
    assert rules.share[0].window == "week" and rules.share[0].dimensions == ("region",)
    assert rules.rise == () and rules.severe == ()
    assert rules.followups.enabled and rules.followup_tiers == ("钻石", "VIP")
    assert rules.routing.department_for("物流配送") == "供应链"
    assert rules.deadlines.default_hours == 48


def test_follow_up_tiers_and_deadlines() -> None:
    rules = rules_from_dict({"deadlines": {"top_tiers": ["黑金"]}, "followups": {"tiers": ["黑金", "钻石"]}})
    assert rules.followup_tiers == ("黑金", "钻石")
    assert (rules.deadline_hours_for("黑金"), rules.deadline_hours_for("钻石"), rules.deadline_hours_for(None)) == (
        24,
        48,
        48,
    ), "钻石 is called back here, within the normal deadline: only 黑金 is a top tier"
