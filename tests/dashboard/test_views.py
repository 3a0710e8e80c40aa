"""The views over plain HTTP, against what the `live` service was fed (conftest: two weeks of survey
answers, two calls): 总览's figures from the maintained tallies, 根因路径, 通话 and the links that lead
to it, a batch's items, and the admin's 密钥 page."""

from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta
from typing import Any

import httpx

from tests.dashboard.conftest import CALLS, Live, survey_rows
from tests.dashboard.test_sessions import page_csrf, signed_in


def _first_monday() -> date:
    return date.today() - timedelta(days=date.today().weekday() + 14)


def _json(page: str, node: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{node}">(.*?)</script>', page, re.S)
    assert found is not None, node
    return json.loads(found.group(1))


def _week_rows(week: int, region: str | None = None) -> list[list[str]]:
    monday = _first_monday() + timedelta(weeks=week)
    days = {(monday + timedelta(days=d)).isoformat() for d in range(7)}
    rows = [r.split(",") for r in survey_rows(_first_monday())]
    return [r for r in rows if r[6] in days and (region is None or r[4] == region)]


def _split(rows: list[list[str]]) -> tuple[int, int, int]:
    scores = [int(r[7]) for r in rows]
    return sum(s >= 9 for s in scores), sum(7 <= s <= 8 for s in scores), sum(s <= 6 for s in scores)


def test_the_overview_counts_the_newest_week_against_the_one_before(live: Live) -> None:
    client, _ = signed_in(live)
    page = client.get("/dashboard").text
    second, first = _week_rows(1), _week_rows(0)
    promoters, passives, detractors = _split(second)
    # The newest week holds the second week's answers and both calls (which carry no NPS).
    assert f"<b>{len(second) + len(CALLS)}</b> 条" in page
    assert f"推荐者 {promoters} · 中立者 {passives} · 贬损者 {detractors}" in page
    nps = round(100 * (promoters - detractors) / len(second))
    before = _split(first)
    change = nps - round(100 * (before[0] - before[2]) / len(first))
    assert f"<b>{nps}</b>" in page and f"较上周 {change}" in page, (nps, change)
    monday = _first_monday() + timedelta(weeks=1)
    assert f"{monday.isoformat()} 至 {(monday + timedelta(days=6)).isoformat()}" in page


def test_the_overview_of_one_region_and_a_chosen_period(live: Live) -> None:
    client, _ = signed_in(live)
    monday = _first_monday()
    page = client.get(f"/dashboard?segment=region:华南&from={monday.isoformat()}").text
    south = _week_rows(0, "华南")
    promoters, passives, detractors = _split(south)
    assert f"<b>{len(south)}</b> 条" in page and f"推荐者 {promoters} · 中立者 {passives} · 贬损者 {detractors}" in page
    assert "细分：华南" in page and "上周无数据" in page, "the week before the first has nothing"
    wrong = client.get(f"/dashboard?from={monday.isoformat()}&to={(monday - timedelta(days=3)).isoformat()}")
    assert wrong.status_code == 200 and "开始日期不能晚于结束日期" in wrong.text


def test_root_cause_paths_of_the_uploaded_answers(live: Live) -> None:
    client, _ = signed_in(live)
    # The two weeks conftest uploads (the browser tests upload more, months before).
    weeks = f"from={_first_monday().isoformat()}&to={(_first_monday() + timedelta(days=13)).isoformat()}"
    page = client.get(f"/dashboard/paths?{weeks}")
    assert page.status_code == 200 and "需求 → 负面观点 → 推荐度" in page.text
    data = _json(page.text, "paths-data")
    links = {(link["source"], link["target"]): link["value"] for link in data["links"]}
    # 华南's "快递太慢了，等了一个星期才到" (NPS 2) and the angry call's "快递太慢了" (no score).
    slow = sum(1 for r in survey_rows(_first_monday()) if "快递太慢" in r)
    assert links[("t:logistics", "p:快递·慢")] == slow + 1
    assert links[("p:快递·慢", "s:detractor")] == slow and links[("p:快递·慢", "s:none")] == 1
    assert data["items"] == len(survey_rows(_first_monday())) + len(CALLS)
    assert (
        "取自所选范围内最新的" in page.text and '<td>物流配送</td><td><mark class="opinion">快递·慢</mark>' in page.text
    )
    south = _json(client.get(f"/dashboard/paths?segment=region:华南&{weeks}").text, "paths-data")
    assert south["items"] == len([r for r in survey_rows(_first_monday()) if ",华南," in r])
    assert all(not n["id"].startswith("t:after_sales") for n in south["nodes"]), "华北's refunds are not 华南's"


def test_a_verbatim_links_to_its_item(live: Live) -> None:
    client, _ = signed_in(live)
    fragment = client.get(
        "/dashboard/heatmap/cell", params={"dimension": "region", "theme": "logistics", "column": "华东"}
    ).text
    assert "这一格共" in fragment
    pk = re.search(r'href="/dashboard/calls/(\d+)">通话 C-0001</a>', fragment)
    assert pk is not None, fragment
    call = client.get(f"/dashboard/calls/{pk.group(1)}")
    assert call.status_code == 200 and "通话 C-0001" in call.text


def test_the_call_page_shows_turns_on_a_timeline_and_the_abnormal_flag(live: Live) -> None:
    client, _ = signed_in(live)
    found = client.get("/dashboard/items", params={"id": "C-0001"}, follow_redirects=True)
    assert found.status_code == 200 and str(found.url.path).startswith("/dashboard/calls/")
    page = found.text
    for words in (
        "异常通话",
        "客户以愤怒结束通话",
        "客服答复后客户强烈不满",
        "情绪由失望转怒",
        "逐句情感与情绪（按通话时间）",
    ):
        assert words in page, words
    data = _json(page, "call-data")
    turns = CALLS[0][2]
    assert data["timed"] and [p["at"] for p in data["points"]] == [0.0, 8.0, 16.0, 24.0]
    assert [p["speaker"] for p in data["points"]] == [speaker for speaker, _ in turns]
    assert [p["text"] for p in data["points"]] == [text for _, text in turns]
    last = data["points"][-1]
    assert last["label"] == "negative" and last["emotion_name"] == "愤怒" and last["score"] < -0.5
    assert page.count('class="turn ') == 4 and "0:24" in page
    calm = client.get("/dashboard/items", params={"id": "C-0002"}, follow_redirects=True).text
    assert "异常通话" not in calm and "安装师傅很专业，非常满意" in calm
    missing = client.get("/dashboard/items", params={"id": "无此编号"})
    assert missing.status_code == 404 and "编号为 无此编号 的条目" in missing.text


def test_follow_ups_and_alert_examples_link_to_the_items(live: Live) -> None:
    client, _ = signed_in(live)
    followups = client.get("/dashboard/followups").text
    assert 'href="/dashboard/items?id=C-0001">C-0001</a>' in followups
    alerts = client.get("/dashboard/alerts").text
    linked = re.findall(r'href="/dashboard/items\?id=([^"]+)"', alerts)
    assert linked, "the alerts' example answers link to their items"
    example = client.get("/dashboard/items", params={"id": html.unescape(linked[0])}, follow_redirects=True)
    assert example.status_code == 200 and f"问卷回答 {html.unescape(linked[0])}" in example.text


def test_a_batchs_items_page_by_page(live: Live) -> None:
    client, _ = signed_in(live)
    batches = client.get("/dashboard/batches").text
    ids = re.findall(r'href="/dashboard/batches/(\d+)/items"', batches)
    pages = {i: client.get(f"/dashboard/batches/{i}/items").text for i in ids}
    calls = next(p for p in pages.values() if "回访通话.jsonl" in p)
    assert calls.count('href="/dashboard/calls/') == 2 and "异常</span>" in calls
    surveys = next(p for p in pages.values() if "回访问卷.csv" in p)
    assert surveys.count('href="/dashboard/calls/') == 50 and "下一页" in surveys
    survey_id = next(i for i, p in pages.items() if p is surveys)
    only_calls = client.get(f"/dashboard/batches/{survey_id}/items?kind=transcript").text
    assert "没有条目" in only_calls


def test_an_admin_creates_and_revokes_a_key_and_an_analyst_cannot(live: Live) -> None:
    analyst, _ = signed_in(live)
    assert analyst.get("/dashboard/keys").status_code == 403
    refused = analyst.post("/dashboard/keys", data={"csrf": page_csrf(analyst), "role": "admin", "name": "越权"})
    assert refused.status_code == 403 and "仅限管理员" in refused.text
    admin, _ = signed_in(live, "admin")
    csrf = page_csrf(admin, "/dashboard/keys")
    created = admin.post("/dashboard/keys", data={"csrf": csrf, "role": "analyst", "name": "华南客服组", "days": "30"})
    assert created.status_code == 201 and "密钥只显示这一次" in created.text
    key = re.search(r'<code class="secret" id="new-key">(ks_[^<]+)</code>', created.text)
    assert key is not None
    with httpx.Client(base_url=live.base, headers={"X-API-Key": key.group(1)}) as api:
        assert api.get("/v1/heatmap").status_code == 200
    listed = admin.get("/dashboard/keys").text
    assert "华南客服组" in listed and key.group(1) not in listed, "the key is shown once"
    row = re.search(r'<tr id="key-(\d+)">\s*<td>\d+</td><td>华南客服组', listed)
    assert row is not None
    revoked = admin.post(f"/dashboard/keys/{row.group(1)}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert "已吊销密钥" in admin.get(revoked.headers["location"]).text
    with httpx.Client(base_url=live.base, headers={"X-API-Key": key.group(1)}) as api:
        assert api.get("/v1/heatmap").status_code == 401
    me = re.search(r'<tr id="key-(\d+)">\s*<td>\d+</td><td>测试admin <span class="badge">当前登录', listed)
    assert me is not None
    own = admin.post(f"/dashboard/keys/{me.group(1)}/revoke", data={"csrf": csrf})
    assert own.status_code == 303 and admin.get("/dashboard/keys").status_code == 200, "still signed in"
    assert "不能吊销当前登录所用的密钥" in admin.get(own.headers["location"]).text
