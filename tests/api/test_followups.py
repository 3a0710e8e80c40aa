"""GET /v1/followups: the answers to call back (回访清单), listed by the worker as batches complete, instead
of one department alert per negative top-tier answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import SURVEY_ROWS, TRANSCRIPTS_JSONL, Service, survey_csv


@pytest.fixture
def listed(service: Service) -> tuple[Service, dict[str, str]]:
    """The GBK survey and the transcripts, analysed: S01, S04 and call c1 are diamond complaints."""
    headers = service.key("analyst")
    for name, content in (("survey.csv", survey_csv()), ("calls.jsonl", TRANSCRIPTS_JSONL)):
        batch_id = service.client.post("/v1/batches", files={"file": (name, content)}, headers=headers).json()["id"]
        assert service.wait(batch_id, headers)["status"] == "done"
    return service, headers


def test_diamond_complaints_are_follow_ups_with_aspect_emotion_and_deadline(
    listed: tuple[Service, dict[str, str]],
) -> None:
    service, headers = listed
    body = service.client.get("/v1/followups", headers=headers).json()
    by_id = {entry["item_id"]: entry for entry in body["items"]}
    assert {"S01", "S04"} <= set(by_id) <= {"S01", "S04", "c1"}, "only diamond complaints (S05 is 基础)"
    assert body["total"] == len(body["items"]) and (body["offset"], body["limit"]) == (0, 100)
    refund = by_id["S04"]
    assert refund["segment"] == {"tier": "钻石", "channel": "APP", "region": "华东", "product": "扫地机器人"}
    assert refund["reasons"] == ["top_tier_negative"] and refund["reason"].startswith("钻石客户负面反馈")
    aspect = refund["aspect"]
    assert aspect["label"] == "negative" and aspect["theme"] and aspect["theme_label"]
    assert aspect["text"] in "退款一直不到账，客服态度恶劣，气死我了"
    assert refund["department"] not in ("", "客户体验部"), "routed by the aspect's theme"
    assert refund["emotion"] == "angry" and refund["emotion_name"] == "愤怒"
    assert refund["negative_probability"] >= 0.8
    listed_at, due = datetime.fromisoformat(refund["listed_at"]), datetime.fromisoformat(refund["due"])
    assert due - listed_at == timedelta(hours=24) == timedelta(hours=refund["deadline_hours"])
    # Redacted: the phone number of S01 is a placeholder wherever the entry quotes it.
    assert "13912345678" not in str(by_id["S01"]) and "钻石" in by_id["S01"]["reason"]
    # Most urgent first: due time, then the most negative.
    order = [(e["due"], -e["negative_probability"]) for e in body["items"]]
    assert order == sorted(order)
    # And none of them paged a department.
    alerts = service.client.get("/v1/alerts", headers=headers).json()["items"]
    assert not [a for a in alerts if a["kind"] == "severe"], [a["evidence"]["reason"] for a in alerts]


def test_filters_by_tier_theme_and_due_time_and_pages(listed: tuple[Service, dict[str, str]]) -> None:
    service, headers = listed
    everything = service.client.get("/v1/followups", headers=headers).json()
    total = everything["total"]
    assert total >= 2

    def ids(**params: str | int) -> list[str]:
        body = service.client.get("/v1/followups", params=params, headers=headers).json()
        return [entry["item_id"] for entry in body["items"]]

    assert len(ids(tier="钻石")) == total and ids(tier="黄金") == []
    themes = {e["item_id"]: e["aspect"]["theme"] for e in everything["items"]}
    themed = ids(theme=themes["S04"])
    assert "S04" in themed and {themes[i] for i in themed} == {themes["S04"]}
    now = datetime.now(UTC)
    assert ids(due_before=now.isoformat()) == []
    assert len(ids(due_before=(now + timedelta(hours=25)).isoformat())) == total
    naive = (now + timedelta(hours=25)).replace(tzinfo=None).isoformat()  # read as UTC
    assert len(ids(due_before=naive)) == total
    first = service.client.get("/v1/followups?limit=1", headers=headers).json()
    second = service.client.get("/v1/followups?limit=1&offset=1", headers=headers).json()
    assert (first["total"], len(first["items"]), first["limit"]) == (total, 1, 1)
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [e["id"] for e in everything["items"][:2]]


def test_the_same_answers_again_keep_their_entries(listed: tuple[Service, dict[str, str]]) -> None:
    service, headers = listed
    before = service.client.get("/v1/followups", headers=headers).json()
    utf8 = service.client.post(
        "/v1/batches", files={"file": ("u.csv", survey_csv(encoding="utf-8"))}, headers=headers
    ).json()
    assert service.wait(utf8["id"], headers)["status"] == "done"
    after = service.client.get("/v1/followups", headers=headers).json()
    assert after == before, "one entry per answer, with the due time it was first listed with"


def test_a_legal_threat_from_a_diamond_customer_is_still_a_severe_alert(service: Service) -> None:
    headers = service.key("analyst")
    rows = [
        ("S09", "热水器漏电把孩子的手烫伤了，我要找律师起诉你们", "钻石", "APP", "华东", "热水器", "2026-11-06", "0")
    ]
    batch_id = service.client.post("/v1/batches", files={"file": ("s.csv", survey_csv(rows))}, headers=headers).json()[
        "id"
    ]
    assert service.wait(batch_id, headers)["status"] == "done"
    alerts = service.client.get("/v1/alerts", headers=headers).json()["items"]
    assert [(a["kind"], a["item_id"]) for a in alerts] == [("severe", "S09")]
    assert "律师" in alerts[0]["evidence"]["reason"] and "起诉" in alerts[0]["evidence"]["reason"]
    # The customer is also called back: an alert for the department, an entry for the follow-up team.
    entries = service.client.get("/v1/followups", headers=headers).json()["items"]
    assert [e["item_id"] for e in entries] == ["S09"]


@pytest.mark.parametrize(
    ("query", "status"),
    [("limit=0", 422), ("limit=1001", 422), ("offset=-1", 422), ("due_before=tomorrow", 422), ("tier=", 422)],
)
def test_bad_queries_are_refused(service: Service, query: str, status: int) -> None:
    assert service.client.get(f"/v1/followups?{query}", headers=service.key("analyst")).status_code == status


def test_needs_an_analyst_key(service: Service) -> None:
    assert service.client.get("/v1/followups").status_code == 401
    assert service.client.get("/v1/followups", headers={"X-API-Key": "ks_nope_nope"}).status_code == 401
    assert service.client.get("/v1/followups", headers=service.key("service")).status_code == 403
    assert service.client.get("/v1/followups", headers=service.key("admin")).status_code == 200


def test_rows_without_top_tier_complaints_list_nobody(service: Service) -> None:
    headers = service.key("analyst")
    calm = [r for r in SURVEY_ROWS if r[2] != "钻石"]
    batch_id = service.client.post("/v1/batches", files={"file": ("c.csv", survey_csv(calm))}, headers=headers).json()[
        "id"
    ]
    assert service.wait(batch_id, headers)["status"] == "done"
    assert service.client.get("/v1/followups", headers=headers).json() == {
        "total": 0,
        "offset": 0,
        "limit": 100,
        "items": [],
    }
