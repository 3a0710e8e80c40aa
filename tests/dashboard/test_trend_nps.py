"""趋势's NPS heatmap over plain HTTP: NPS per product line × ISO week of the uploaded survey (conftest's
two weeks of 净水器 and 扫地机器人 answers), the table and the chart's data agreeing, and the date filter."""

from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta
from typing import Any

from nlp.heatmap import iso_week
from tests.dashboard.conftest import Live, survey_rows
from tests.dashboard.test_sessions import signed_in


def _first_monday() -> date:
    # As the `live` fixture uploads: the two full weeks before this one.
    return date.today() - timedelta(days=date.today().weekday() + 14)


def _nps_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="nps-data">(.*?)</script>', page, re.S)
    assert found is not None, "the NPS heatmap's data is on the page"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _expected() -> dict[tuple[str, str], tuple[int, int, int]]:
    """(promoters, passives, detractors) per (product, ISO week), counted from the uploaded rows."""
    split: dict[tuple[str, str], list[int]] = {}
    for row in survey_rows(_first_monday()):
        fields = row.split(",")
        score = int(fields[7])
        counts = split.setdefault((fields[5], str(iso_week(fields[6]))), [0, 0, 0])
        counts[0 if score >= 9 else 1 if score >= 7 else 2] += 1
    return {key: (p, n, d) for key, (p, n, d) in split.items()}


def test_trend_shows_nps_per_product_line_and_week(live: Live) -> None:
    client, _ = signed_in(live)
    page = client.get("/dashboard/trend")
    assert page.status_code == 200 and "各产品线每周 NPS" in page.text
    data = _nps_data(page.text)
    first, second = (str(iso_week((_first_monday() + timedelta(days=d)).isoformat())) for d in (0, 7))
    assert data["weeks"] == [first, second] and data["rows"] == ["净水器", "扫地机器人"]
    cells = {(c["row"], c["week"]): c for c in data["cells"]}
    expected = _expected()
    assert set(cells) == set(expected)
    for key, (promoters, passives, detractors) in expected.items():
        cell = cells[key]
        assert (cell["promoters"], cell["passives"], cell["detractors"]) == (promoters, passives, detractors)
        assert cell["nps"] == round(100 * (promoters - detractors) / (promoters + passives + detractors), 1)
    # 华南's water purifiers fall from 33.3 to -100.0 (14 promoters and 7 detractors of 21, then 35
    # detractors of 35); the robot vacuums hold at 50.0. Below 30 answers in the first week: no NPS drop
    # alert, and none the programme's rule would raise either (the calls carry no NPS).
    assert [cells["净水器", w]["nps"] for w in (first, second)] == [33.3, -100.0]
    assert [cells["扫地机器人", w]["nps"] for w in (first, second)] == [50.0, 50.0]
    assert (
        data["alerts"] == [] and data["preview"] == [] and "▼</span>" not in page.text and "▽</span>" not in page.text
    )
    assert "NPS 周环比下降规则（未启用）" in page.text and "按此规则，所选时间内没有会告警的周" in page.text
    # The table says the same as the chart's data.
    shown = {
        (html.unescape(row), week): float(value)
        for row, week, value in re.findall(r'data-row="([^"]+)" data-week="([^"]+)" data-nps="([^"]+)"', page.text)
    }
    assert shown == {key: cell["nps"] for key, cell in cells.items()}


def test_the_date_range_narrows_the_nps_heatmap(live: Live) -> None:
    client, _ = signed_in(live)
    second_monday = _first_monday() + timedelta(days=7)
    data = _nps_data(client.get(f"/dashboard/trend?from={second_monday.isoformat()}&to=").text)
    assert data["weeks"] == [iso_week(second_monday.isoformat())]
    assert {(c["row"], c["answers"]) for c in data["cells"]} == {("净水器", 35), ("扫地机器人", 28)}
    before = (_first_monday() - timedelta(days=30)).isoformat()
    empty = client.get(f"/dashboard/trend?from={before}&to={(_first_monday() - timedelta(days=1)).isoformat()}")
    assert empty.status_code == 200 and _nps_data(empty.text)["cells"] == []
    assert "没有填写推荐度" in empty.text


def test_trend_shows_each_demands_nps_per_week(live: Live) -> None:
    client, _ = signed_in(live)
    page = client.get("/dashboard/trend").text
    assert "各需求每周 NPS（提及该需求的回答）" in page
    found = re.search(r'<script type="application/json" id="demand-nps-data">(.*?)</script>', page, re.S)
    assert found is not None
    data = json.loads(found.group(1))
    cells = {(c["row"], c["week"]): c for c in data["cells"]}
    first, second = (str(iso_week((_first_monday() + timedelta(days=d)).isoformat())) for d in (0, 7))
    # Every 华南 answer is about logistics (the complaints and "物流很快，包装完好"); nobody else's is.
    south = [r.split(",") for r in survey_rows(_first_monday()) if ",华南," in r]
    for week, offset in ((first, 0), (second, 7)):
        days = {(_first_monday() + timedelta(days=offset + d)).isoformat() for d in range(7)}
        scores = [int(r[7]) for r in south if r[6] in days]
        promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
        cell = cells["物流配送", week]
        assert (cell["answers"], cell["promoters"], cell["detractors"]) == (len(scores), promoters, detractors)
    assert [cells["物流配送", w]["nps"] for w in (first, second)] == [33.3, -100.0]
    # 华北's refund complaints (NPS 2), once a day: 售后退换 at -100 both weeks.
    assert [cells["售后退换", w]["nps"] for w in (first, second)] == [-100.0, -100.0]
    assert "未知" not in data["rows"], "an answer with several demands is in each; there is no rest"
