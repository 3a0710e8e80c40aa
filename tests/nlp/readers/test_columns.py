from __future__ import annotations

import datetime as dt

import pytest

from nlp.readers.columns import (
    build_meta,
    canonical_header,
    parse_date,
    parse_score,
    parse_seconds,
    speaker_of,
    transcript_meta_key,
)


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("回答", "text"),
        ("Comment", "text"),
        ("意見", "text"),
        ("意见 建议", "text"),
        ("ID", "id"),
        ("序号", "id"),
        ("NPS评分", "nps"),
        ("NPS评分(0-10)", "nps"),
        ("推荐度（0-10分）", "nps"),
        ("滿意度", "csat"),
        ("满意度：", "csat"),
        ("提交時間", "date"),
        ("Created At", "date"),
        ("created_at", "date"),
        ("客戶等級", "tier"),
        ("會員等級", "tier"),
        ("來源", "channel"),
        ("大區", "region"),
        ("產品線", "product"),
        ("客户姓名", None),
        ("备注", None),
    ],
)
def test_headers_match_synonyms_after_normalisation(header: str, canonical: str | None) -> None:
    assert canonical_header(header) == canonical


@pytest.mark.parametrize(
    ("label", "speaker"),
    [
        ("agent", "agent"),
        ("AGENT", "agent"),
        ("Agent", "agent"),
        ("客服", "agent"),
        ("坐席", "agent"),
        ("人工客服", "agent"),
        ("售后", "agent"),
        ("服务人员", "agent"),
        ("服務人員", "agent"),
        ("【客服】", "agent"),
        ("客服1", "agent"),
        ("agent_2", "agent"),
        ("客户经理", "agent"),
        ("customer", "customer"),
        ("Customer", "customer"),
        ("顾客", "customer"),
        ("顧客", "customer"),
        ("客户", "customer"),
        ("客戶", "customer"),
        ("用户", "customer"),
        ("用戶", "customer"),
        ("买家", "customer"),
        ("[客户]", "customer"),
        ("机器人", None),
        ("spk0", None),
        ("", None),
    ],
)
def test_speaker_synonyms(label: str, speaker: str | None) -> None:
    assert speaker_of(label) == speaker


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2026-11-02", "2026-11-02"),
        ("2026/11/2", "2026-11-02"),
        ("2026.11.02", "2026-11-02"),
        ("2026年11月2日", "2026-11-02"),
        ("2026 年 11 月 2 日", "2026-11-02"),
        ("20261102", "2026-11-02"),
        (20261102, "2026-11-02"),
        ("２０２６－１１－０２", "2026-11-02"),
        ("2026-11-02 14:03:22", "2026-11-02"),
        ("2026/11/2 下午 3:04", "2026-11-02"),
        ("2026年11月2日14时30分", "2026-11-02"),
        ("2026-11-02T14:03:22+08:00", "2026-11-02"),
        # 23:30 UTC on 1 November is 07:30 on 2 November in China.
        ("2026-11-01T23:30:00Z", "2026-11-02"),
        (dt.datetime(2026, 11, 2, 9, 30), "2026-11-02"),
        (dt.date(2026, 11, 2), "2026-11-02"),
        (46328, "2026-11-02"),  # an Excel day serial
        (46328.0, "2026-11-02"),
        (1793577600, "2026-11-02"),  # epoch seconds, read in UTC+8
    ],
)
def test_dates_become_iso(value: object, iso: str) -> None:
    assert parse_date(value) == iso


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "11月2日", "昨天", "2026", "", True, 3.5])
def test_bad_dates_raise_with_the_value(value: object) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "field", "score"),
    [
        ("9", "nps", 9),
        (9.0, "nps", 9),
        (0, "nps", 0),
        ("９", "nps", 9),
        (" 10 ", "nps", 10),
        ("9分", "nps", 9),
        ("5", "csat", 5),
        ("4星", "csat", 4),
        ("非常满意", "csat", 5),
        ("非常滿意", "csat", 5),
        ("不满意", "csat", 2),
        ("一般", "csat", 3),
    ],
)
def test_scores_parse(value: object, field: str, score: int) -> None:
    assert parse_score(value, field) == score


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ("11", "nps", "out of range"),
        (-1, "nps", "out of range"),
        (0, "csat", "out of range"),
        ("6", "csat", "out of range"),
        (8.5, "nps", "whole number"),
        ("很好", "nps", "must be a number"),
        (True, "nps", "must be a number"),
    ],
)
def test_bad_scores_raise_with_a_reason(value: object, field: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_score(value, field)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(83, 83.0), (83.5, 83.5), ("83.5", 83.5), ("01:23", 83.0), ("00:01:23", 83.0), ("1:02:03,5", 3723.5)],
)
def test_turn_times(value: object, seconds: float) -> None:
    assert parse_seconds(value) == seconds


def test_meta_normalises_values_and_reports_bad_typed_fields() -> None:
    meta, problems = build_meta(
        [
            ("region", "地區", " 華東  一區 "),
            ("date", "日期", "2026/11/2"),
            ("nps", "推薦度", "11"),
            ("csat", "滿意度", "非常滿意"),
            ("product", "產品", ""),
            ("備註", "備註", 12.0),
        ]
    )
    assert meta == {"region": "华东 一区", "date": "2026-11-02", "csat": 5, "備註": 12}
    assert problems == [("推薦度", "nps out of range 0–10: '11'; field left out")]


def test_transcript_meta_keys_use_the_mapping_then_synonyms() -> None:
    renames = {"会员级别": "tier"}
    assert transcript_meta_key("會員級別", renames) == "tier"
    assert transcript_meta_key("客戶等級", {}) == "tier"
    assert transcript_meta_key("门店", {}) == "门店"
    assert transcript_meta_key("内容", {}) == "内容"  # a call's text is its turns
