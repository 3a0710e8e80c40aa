"""Heatmap, trend and alerts over everything stored; the alert lifecycle through the API."""

from __future__ import annotations

import pytest

from tests.api.conftest import LEGAL_THREAT, SURVEY_ROWS, TRANSCRIPTS_JSONL, Service, survey_csv

COMPLAINTS = [
    "物流太慢了，等了一个星期",
    "快递三天还没到，物流太差",
    "物流慢得离谱，再也不买了",
    "快递一直不送货上门，太差了",
]


@pytest.fixture
def loaded(service: Service) -> tuple[Service, dict[str, str]]:
    """Two batches: the GBK survey and the transcripts, both analysed."""
    headers = service.key("analyst")
    for name, content in (("survey.csv", survey_csv()), ("calls.jsonl", TRANSCRIPTS_JSONL)):
        batch_id = service.client.post("/v1/batches", files={"file": (name, content)}, headers=headers).json()["id"]
        assert service.wait(batch_id, headers)["status"] == "done"
    return service, headers


def test_heatmap_counts_the_aspect_mentions_of_every_stored_item(loaded: tuple[Service, dict[str, str]]) -> None:
    service, headers = loaded
    heatmap = service.client.get("/v1/heatmap?dimension=tier", headers=headers).json()
    assert heatmap["dimension"] == "tier" and heatmap["items"] == 9
    assert sum(cell["mentions"] for cell in heatmap["cells"]) == heatmap["mentions"] >= 9, "every item, once or more"
    assert all(c["count"] == c["mentions"] >= c["items"] >= 1 for c in heatmap["cells"])
    assert heatmap["columns"] == ["钻石", "黄金", "白银", "基础"]
    assert heatmap["themes"][0]["id"] == "logistics"
    diamond = [c for c in heatmap["cells"] if c["column"] == "钻石"]
    assert sum(c["mentions"] for c in diamond) >= 4 and max(c["items"] for c in diamond) <= 4  # S01, S04, S08, c1
    sparse = [c for c in heatmap["cells"] if c["sparse"]]
    assert sparse and all(c["mentions"] < heatmap["min_mentions"] for c in sparse)
    assert all(c["negative_share_low"] <= c["negative_share"] <= c["negative_share_high"] for c in heatmap["cells"])
    by_channel = service.client.get("/v1/heatmap?dimension=channel", headers=headers).json()
    assert "电话回访" in by_channel["columns"] and by_channel["items"] == 9


def test_heatmap_filters_by_dates_and_theme(loaded: tuple[Service, dict[str, str]]) -> None:
    service, headers = loaded
    window = service.client.get("/v1/heatmap?from=2026-11-04&to=2026-11-05", headers=headers).json()
    assert window["items"] == 3  # S04, S05, S06
    theme = service.client.get("/v1/heatmap?theme=logistics", headers=headers).json()
    assert 0 < theme["items"] < 9
    assert {c["theme"] for c in theme["cells"]} == {"logistics"}
    quotes = [q for c in theme["cells"] for q in c["examples"]]
    assert "物流太慢了" in quotes and "物流太慢了，包装也破了" not in quotes, "S05's unit, not the whole answer"
    assert service.client.get("/v1/heatmap?from=2026-11-06&to=2026-11-01", headers=headers).status_code == 422
    assert service.client.get("/v1/heatmap?from=yesterday", headers=headers).status_code == 422
    assert service.client.get("/v1/heatmap?dimension=a;drop", headers=headers).status_code == 422


def test_trend_by_week(loaded: tuple[Service, dict[str, str]]) -> None:
    service, headers = loaded
    trend = service.client.get("/v1/trend", headers=headers).json()
    assert trend["weeks"] == ["2026-W45"]
    mentions = service.client.get("/v1/heatmap", headers=headers).json()["mentions"]
    assert sum(p["mentions"] for s in trend["series"] for p in s["points"]) == mentions  # every item has a date
    assert all(p["items"] <= p["mentions"] for s in trend["series"] for p in s["points"])


def test_severe_items_raise_alerts_with_a_lifecycle(loaded: tuple[Service, dict[str, str]]) -> None:
    service, headers = loaded
    alerts = service.client.get("/v1/alerts?status=open", headers=headers).json()
    # The diamond complaints of the fixture (S01, S04, c1) are follow-ups (tests/api/test_followups.py).
    assert not [a for a in alerts["items"] if a["kind"] == "severe"]
    batch_id = service.client.post(
        "/v1/batches", files={"file": ("legal.csv", survey_csv([LEGAL_THREAT]))}, headers=headers
    ).json()["id"]
    assert service.wait(batch_id, headers)["status"] == "done"
    alerts = service.client.get("/v1/alerts?status=open", headers=headers).json()
    severe = {a["item_id"]: a for a in alerts["items"] if a["kind"] == "severe"}
    assert list(severe) == ["S09"], "a diamond customer, 律师 and 起诉"
    alert = severe["S09"]
    assert alert["segment"]["tier"] == "钻石" and alert["status"] == "open"
    assert alert["evidence"]["examples"][0]["id"] == "S09"
    assert alert["department"]

    path = f"/v1/alerts/{alert['id']}"
    assert service.client.post(f"{path}/resolve", json={"note": "  "}, headers=headers).status_code == 422
    acknowledged = service.client.post(f"{path}/acknowledge", json={"note": "售后张经理跟进"}, headers=headers)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    assert service.client.post(f"{path}/acknowledge", headers=headers).status_code == 409
    resolved = service.client.post(f"{path}/resolve", json={"note": "已上门检修并致电道歉"}, headers=headers).json()
    assert resolved["status"] == "resolved"
    assert [h["status"] for h in resolved["history"]] == ["open", "acknowledged", "resolved"]
    assert service.client.get("/v1/alerts?status=resolved", headers=headers).json()["total"] == 1
    assert service.client.post("/v1/alerts/al-nope/acknowledge", headers=headers).status_code == 404
    assert service.client.get("/v1/alerts", headers=service.key("service")).status_code == 403


def test_alerts_are_not_raised_twice(loaded: tuple[Service, dict[str, str]]) -> None:
    service, headers = loaded
    # The legal threat alone, then again among the survey's answers (different bytes: another batch).
    for name, rows in (("legal.csv", [LEGAL_THREAT]), ("again.csv", [*SURVEY_ROWS, LEGAL_THREAT])):
        batch_id = service.client.post("/v1/batches", files={"file": (name, survey_csv(rows))}, headers=headers).json()[
            "id"
        ]
        assert service.wait(batch_id, headers)["status"] == "done"
    alerts = service.client.get("/v1/alerts", headers=headers).json()
    ids = [a["id"] for a in alerts["items"]]
    assert len(ids) == len(set(ids))
    # The same answer in two batches is the same condition: one severe alert, refreshed, not duplicated.
    assert [a["item_id"] for a in alerts["items"] if a["kind"] == "severe"] == ["S09"]


def test_a_theme_with_many_complaints_in_a_week_raises_a_share_alert(service: Service) -> None:
    headers = service.key("analyst")
    rows = [
        (f"L{i:02d}", COMPLAINTS[i % 4] + f"（第{i}单）", "基础", "APP", "华东", "净水器", f"2026-11-0{2 + i % 5}", "3")
        for i in range(36)
    ]
    batch_id = service.client.post("/v1/batches", files={"file": ("w.csv", survey_csv(rows))}, headers=headers).json()[
        "id"
    ]
    assert service.wait(batch_id, headers)["status"] == "done"
    alerts = service.client.get("/v1/alerts", headers=headers).json()["items"]
    shares = [a for a in alerts if a["kind"] == "share" and a["theme"] == "logistics"]
    assert shares, [a["rule"] for a in alerts]
    assert shares[0]["evidence"]["count"] >= 30 and shares[0]["window"]["start"] == "2026-11-02"
