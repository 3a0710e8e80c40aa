"""Batch uploads: accepted, analysed by the worker, results in three formats; bad input refused whole."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from api.tables import Batch, Item, RowError
from tests.api.conftest import SURVEY_ROWS, TRANSCRIPTS_JSONL, Service, survey_csv


def _count(service: Service, table: type) -> int:
    with service.services.factory() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_gbk_survey_is_analysed_with_row_errors_and_redaction(service: Service) -> None:
    headers = service.key("analyst")
    response = service.client.post("/v1/batches", files={"file": ("回访.csv", survey_csv())}, headers=headers)
    assert response.status_code == 202
    created = response.json()
    assert created == {"id": created["id"], "status": "queued", "duplicate": False, "total": 7}
    assert response.headers["location"] == f"/v1/batches/{created['id']}"

    batch = service.wait(created["id"], headers)
    assert batch["status"] == "done" and batch["progress"] == 1.0
    assert batch["read"]["encoding"] in ("gb18030", "gbk")
    assert batch["counts"]["items"] == 7 and sum(batch["counts"]["labels"].values()) == 7
    assert batch["counts"]["row_errors"] == 1
    (error,) = batch["errors"]
    assert (error["file"], error["row"], error["field"]) == ("回访.csv", 4, "text")
    assert {t["id"] for t in batch["themes"]} >= {"logistics", "service"}

    page = service.client.get(f"/v1/batches/{created['id']}/results?limit=3", headers=headers).json()
    assert (page["total"], page["offset"], page["limit"]) == (7, 0, 3)
    assert [r["id"] for r in page["items"]] == ["S01", "S02", "S04"]
    first = page["items"][0]
    assert "13912345678" not in first["text"] and "[手机号]" in first["text"]
    assert first["sentiment"]["label"] == "negative"
    assert first["meta"]["tier"] == "钻石"
    with service.services.factory() as session:
        stored = " ".join(json.dumps(r, ensure_ascii=False) for r in session.scalars(select(Item.result)))
    assert "13912345678" not in stored and "小王" not in stored
    assert service.staged() == 0, "the raw upload is gone"


def test_results_download_as_jsonl_and_csv(service: Service) -> None:
    headers = service.key("analyst")
    batch_id = service.client.post(
        "/v1/batches", files={"file": ("calls.jsonl", TRANSCRIPTS_JSONL)}, headers=headers
    ).json()["id"]
    service.wait(batch_id, headers)
    jsonl = service.client.get(f"/v1/batches/{batch_id}/results?format=jsonl", headers=headers)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    calls = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [c["id"] for c in calls] == ["c1", "c2"]
    assert [t["speaker"] for t in calls[0]["turns"]] == ["agent", "customer"]
    assert calls[0]["sentiment"]["label"] == "negative" and calls[1]["sentiment"]["label"] == "positive"
    table = list(
        csv.DictReader(
            io.StringIO(service.client.get(f"/v1/batches/{batch_id}/results?format=csv", headers=headers).text)
        )
    )
    assert [row["id"] for row in table] == ["c1", "c2"]
    assert table[0]["label"] == "negative"
    # The lexicon is a two-class scorer: no neutral/positive probabilities; its emotion for 太失望了.
    assert (table[0]["neutral_probability"], table[0]["positive_probability"]) == ("", "")
    assert (table[0]["emotion"], table[0]["emotion_name"]) == ("sad", "失望")
    assert (table[0]["trajectory"], table[0]["abnormal"]) == ("情绪始终失望", "false")
    assert (table[1]["emotion"], table[1]["emotion_name"], table[1]["trajectory"]) == ("", "", "情绪始终满意")
    assert calls[0]["call"]["trajectory"] == "情绪始终失望"


def _csv(service: Service, batch_id: int, headers: dict[str, str]) -> tuple[list[str], list[dict[str, str]]]:
    text = service.client.get(f"/v1/batches/{batch_id}/results?format=csv", headers=headers).text
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


CALLS_THREE_WAY = "\n".join(
    json.dumps(call, ensure_ascii=False)
    for call in [
        {
            "id": "c1",
            "turns": [
                {"speaker": "客服", "text": "您好，这里是回访，请问对净水器满意吗？"},
                {"speaker": "客户", "text": "漏水了，打了三次电话都没人来修，太失望了"},
            ],
        },
        {
            "id": "c3",
            "turns": [
                {"speaker": "客户", "text": "退款一个月了还没人处理"},
                {"speaker": "客服", "text": "非常抱歉，我们会尽快处理"},
                {"speaker": "客户", "text": "每次都这么说，太过分了，我要投诉"},
            ],
        },
    ]
).encode("utf-8")


def test_csv_has_three_way_probabilities_emotions_and_the_call_reading(three_way_service: Service) -> None:
    service, headers = three_way_service, three_way_service.key("analyst")
    batch_id = service.client.post(
        "/v1/batches", files={"file": ("calls.jsonl", CALLS_THREE_WAY)}, headers=headers
    ).json()["id"]
    assert service.wait(batch_id, headers)["status"] == "done"
    columns, table = _csv(service, batch_id, headers)
    old = ["id", "kind", "text", "label", "score", "negative_probability", "emotion", "keywords", "themes", "meta"]
    assert columns[: len(old)] == old, "the older columns keep their places"
    assert columns[len(old) :] == [
        "neutral_probability",
        "positive_probability",
        "emotion_name",
        "trajectory",
        "abnormal",
        "aspects",
    ]
    c1, c3 = table
    # Each customer unit of the call, with its theme, term·opinion and own label.
    assert "negative" in c3["aspects"] and c3["aspects"].count(";") >= 1
    p = [float(c1[k]) for k in ("negative_probability", "neutral_probability", "positive_probability")]
    assert sum(p) == pytest.approx(1.0, abs=1e-3) and p == pytest.approx([0.72, 0.2, 0.08])
    assert (c1["label"], c1["emotion"], c1["emotion_name"]) == ("negative", "sad", "失望")
    assert (c1["trajectory"], c1["abnormal"]) == ("情绪始终失望", "false")
    # c3: the customer starts disappointed and ends angry after the agent's reply.
    assert (c3["emotion"], c3["emotion_name"], c3["trajectory"], c3["abnormal"]) == (
        "angry",
        "愤怒",
        "情绪由失望转怒",
        "true",
    )
    page = service.client.get(f"/v1/batches/{batch_id}/results", headers=headers).json()
    item = page["items"][1]
    assert [r["code"] for r in item["call"]["reasons"]] == ["ends_angry", "negative_after_reply"]
    assert item["call"]["reasons"][0]["text"] == "客户以愤怒结束通话"
    emotions = item["emotion_probabilities"]  # the customer turns' mixed
    assert max(emotions, key=emotions.get) == "angry" and sum(emotions.values()) == pytest.approx(1.0, abs=1e-3)
    assert [t["emotion_name"] for t in item["turns"]] == ["失望", "中性", "愤怒"]
    assert item["sentiment"]["probabilities"]["negative"] == item["sentiment"]["negative_probability"]


def test_results_stored_with_chinese_emotions_still_serve(service: Service) -> None:
    """Results stored before emotions had English classes ("emotion": "愤怒", no emotion_name)."""
    headers = service.key("analyst")
    batch_id = service.client.post("/v1/batches", files={"file": ("回访.csv", survey_csv())}, headers=headers).json()[
        "id"
    ]
    service.wait(batch_id, headers)
    with service.services.factory() as session, session.begin():
        item = session.scalars(select(Item).where(Item.batch_id == batch_id, Item.item_id == "S04")).one()
        legacy = {k: v for k, v in item.result.items() if k not in ("emotion_name", "emotion_probabilities")}
        item.result = {**legacy, "emotion": "愤怒"}
        fresh = session.scalars(select(Item).where(Item.batch_id == batch_id, Item.item_id == "S02")).one().result
    page = service.client.get(f"/v1/batches/{batch_id}/results", headers=headers)
    assert page.status_code == 200
    served = {r["id"]: r for r in page.json()["items"]}
    assert (served["S04"]["emotion"], served["S04"]["emotion_name"]) == ("angry", "愤怒")
    lines = service.client.get(f"/v1/batches/{batch_id}/results?format=jsonl", headers=headers).text.splitlines()
    downloaded = {r["id"]: r for r in map(json.loads, lines)}
    assert (downloaded["S04"]["emotion"], downloaded["S04"]["emotion_name"]) == ("angry", "愤怒")
    assert downloaded["S02"] == fresh, "a result stored today is served as stored"
    _, table = _csv(service, batch_id, headers)
    row = next(r for r in table if r["id"] == "S04")
    assert (row["emotion"], row["emotion_name"]) == ("angry", "愤怒")


def test_the_same_file_twice_is_one_batch(service: Service) -> None:
    headers = service.key("analyst")
    first = service.client.post("/v1/batches", files={"file": ("a.csv", survey_csv())}, headers=headers).json()
    service.wait(first["id"], headers)
    again = service.client.post("/v1/batches", files={"file": ("copy.csv", survey_csv())}, headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["duplicate"] is True
    assert _count(service, Batch) == 1 and _count(service, Item) == 7


@pytest.mark.parametrize(
    ("name", "content", "status", "detail"),
    [
        ("garbage.csv", bytes(range(256)) * 8, 422, "not UTF-8 or GB18030"),
        ("calls.jsonl", b'{"id": "c1", "turns": [}\n', 422, "calls.jsonl"),
        ("notes.pdf", b"%PDF-1.4", 422, "unsupported file type"),
        ("empty.csv", b"", 422, "empty"),
        ("blank.csv", "编号,回答\n1,\n2,  \n".encode("gbk"), 422, "no item to analyse"),
    ],
)
def test_unreadable_uploads_are_refused_and_nothing_is_stored(
    service: Service, name: str, content: bytes, status: int, detail: str
) -> None:
    response = service.client.post("/v1/batches", files={"file": (name, content)}, headers=service.key())
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in problem["detail"] or detail == problem.get("file")
    assert _count(service, Batch) == _count(service, RowError) == service.staged() == 0


def test_a_malformed_json_line_is_named_by_line(service: Service) -> None:
    content = TRANSCRIPTS_JSONL + b'\n{"id": "c3", "turns": [\n'
    problem = service.client.post("/v1/batches", files={"file": ("calls.jsonl", content)}, headers=service.key()).json()
    assert (problem["file"], problem["row"]) == ("calls.jsonl", 3)


def test_limits_on_size_rows_and_item_length(make_service: Callable[..., Service]) -> None:
    service = make_service(max_upload_bytes=600, max_rows=5, max_item_chars=25)
    headers = service.key()
    big = survey_csv(
        [(f"X{i}", "物流太慢了" * 3, "钻石", "APP", "华东", "净水器", "2026-11-02", "1") for i in range(40)]
    )
    too_big = service.client.post("/v1/batches", files={"file": ("big.csv", big)}, headers=headers)
    assert too_big.status_code == 413 and "600 bytes" in too_big.json()["detail"]
    rows = survey_csv([(f"X{i}", "物流慢", "钻石", "APP", "华东", "净水器", "2026-11-02", "1") for i in range(6)])
    too_many = service.client.post("/v1/batches", files={"file": ("rows.csv", rows)}, headers=headers)
    assert too_many.status_code == 413 and "6 items; at most 5" in too_many.json()["detail"]
    assert _count(service, Batch) == 0
    long = survey_csv([("L1", "质量很好" * 10, "钻石", "APP", "华东", "净水器", "2026-11-02", "9"), SURVEY_ROWS[1]])
    accepted = service.client.post("/v1/batches", files={"file": ("long.csv", long)}, headers=headers).json()
    batch = service.wait(accepted["id"], headers)
    assert batch["total"] == 1 and batch["counts"]["items"] == 1
    assert batch["errors"][0]["row"] == 2 and "40 characters; at most 25" in batch["errors"][0]["message"]


def test_options_kind_and_columns(service: Service) -> None:
    headers = service.key()
    content = "序号,意见反馈\n1,快递太慢了\n2,服务很好\n".encode()
    bad = service.client.post(
        "/v1/batches", files={"file": ("x.csv", content)}, data={"columns": "text=意见反馈"}, headers=headers
    )
    assert bad.status_code == 422 and "columns" in bad.json()["detail"]
    wrong_kind = service.client.post(
        "/v1/batches", files={"file": ("x.csv", content)}, data={"kind": "transcript"}, headers=headers
    )
    assert wrong_kind.status_code == 422 and "survey" in wrong_kind.json()["detail"]
    ok = service.client.post(
        "/v1/batches", files={"file": ("x.csv", content)}, data={"columns": '{"text": "意见反馈"}'}, headers=headers
    )
    batch = service.wait(ok.json()["id"], headers)
    assert batch["read"]["columns"]["text"] == "意见反馈"


def test_roles_and_unknown_batches(service: Service) -> None:
    files = {"file": ("a.csv", survey_csv())}
    assert service.client.post("/v1/batches", files=files, headers=service.key("service")).status_code == 403
    assert service.client.post("/v1/batches", files=files).status_code == 401
    assert service.client.get("/v1/batches/999", headers=service.key()).status_code == 404
    assert service.client.get("/v1/batches/999/results", headers=service.key()).status_code == 404
    listed = service.client.get("/v1/batches", headers=service.key("admin"))
    assert listed.status_code == 200 and listed.json() == [] and listed.headers["x-total-count"] == "0"
