"""The service against hostile but fair input (issue 16): damaged and bomb workbooks, an over-long CSV
cell, oversized bodies, formulas in exports, and what the OpenAPI document promises about bodies,
methods and the two key headers. Every refusal is a 4xx problem+json naming file, row and field."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from api.errors import PROBLEM_JSON
from api.labels_db import export_labels
from api.settings import Settings
from api.tables import Batch, RowError
from nlp.files import spreadsheet_cell, spreadsheet_row
from tests.api.conftest import Service

SHEET = "xl/worksheets/sheet1.xml"


def _count(service: Service, table: type) -> int:
    with service.services.factory() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def _nothing_stored(service: Service) -> bool:
    return _count(service, Batch) == _count(service, RowError) == service.staged() == 0


def _upload(service: Service, name: str, content: bytes, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    response = service.client.post("/v1/batches", files={"file": (name, content)}, headers=headers)
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON
    return response.status_code, response.json()


def _bomb(rows: int) -> bytes:
    """A real workbook whose sheet gets `rows` identical rows, streamed into the ZIP."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["编号", "回答"])
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(plain)
    out = io.BytesIO()
    row = ('<row><c t="inlineStr"><is><t>快递太慢</t></is></c></row>' * 10_000).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for part in source.infolist():
            data = source.read(part.filename)
            if part.filename != SHEET:
                target.writestr(part, data)
                continue
            head, tail = data.split(b"</sheetData>")
            with target.open(SHEET, "w", force_zip64=True) as written:
                written.write(head)
                for _ in range(rows // 10_000):
                    written.write(row)
                written.write(b"</sheetData>" + tail)
    return out.getvalue()


# --- item 1: hostile files and bodies --------------------------------------------------------------


def test_a_zip_that_is_not_a_workbook_is_a_422_naming_the_file(service: Service) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("[Content_Types].xml", "<junk")
    status, problem = _upload(service, "corrupt.xlsx", archive.getvalue(), service.key())
    assert status == 422
    assert problem["file"] == "corrupt.xlsx" and "not a readable XLSX workbook" in str(problem["detail"])
    assert _nothing_stored(service)


def test_a_cell_past_the_csv_field_limit_is_a_bad_row_and_the_rest_is_analysed(service: Service) -> None:
    headers = service.key()
    content = ("id,text\nh1," + "差" * 131_073 + "\nh2,物流很快，包装也很好\n").encode()
    status, created = _upload(service, "huge_cell.csv", content, headers)
    assert status == 202 and created["total"] == 1
    batch = service.wait(int(str(created["id"])), headers)
    assert batch["status"] == "done" and batch["counts"]["items"] == 1
    (error,) = batch["errors"]
    assert (error["file"], error["row"], error["field"]) == ("huge_cell.csv", 2, "text")
    assert "131073 characters; at most 20000 (item 'h1')" in error["message"]


def test_the_two_million_row_workbook_is_refused_at_once_and_nothing_is_stored(service: Service) -> None:
    bomb = _bomb(2_000_000)
    assert len(bomb) < 400_000
    started = time.monotonic()
    status, problem = _upload(service, "bomb.xlsx", bomb, service.key())
    assert status == 413 and time.monotonic() - started < 15
    assert (problem["file"], problem["field"]) == ("bomb.xlsx", SHEET)
    assert "compression bomb" in str(problem["detail"])
    assert _nothing_stored(service)


def test_rows_past_max_rows_are_refused_at_the_row_past_it(make_service: Callable[..., Service]) -> None:
    service = make_service(max_rows=50)
    lines = "".join(f"{i},第{i}单快递太慢了\n" for i in range(5000))
    status, problem = _upload(service, "many.csv", ("编号,回答\n" + lines).encode(), service.key())
    assert status == 413
    assert (problem["file"], problem["row"]) == ("many.csv", 52)
    assert "51 items; at most 50" in str(problem["detail"]) and "KESHENG_MAX_ROWS" in str(problem["detail"])
    assert _nothing_stored(service)


def test_cells_and_inflated_size_have_their_settings(make_service: Callable[..., Service]) -> None:
    service = make_service(max_cells=100, max_unzipped_bytes=10_000)
    headers = service.key()
    lines = "".join(f"{i},第{i}单快递太慢了,钻石\n" for i in range(100))
    status, problem = _upload(service, "wide.csv", ("编号,回答,等级\n" + lines).encode(), headers)
    assert status == 413 and "KESHENG_MAX_CELLS" in str(problem["detail"]) and problem["row"] == 34
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for i in range(300):
        sheet.append([f"S{i}", f"第{i}位客户：物流太慢了，等了一个星期"])
    out = io.BytesIO()
    workbook.save(out)
    status, problem = _upload(service, "big.xlsx", out.getvalue(), headers)
    assert status == 413 and "KESHENG_MAX_UNZIPPED_BYTES" in str(problem["detail"])


def test_an_oversized_real_time_body_is_refused_before_it_is_read(service: Service) -> None:
    headers = {**service.key("service"), "Content-Type": "application/json"}
    # A 100 MB body, declared: refused on its Content-Length, no byte of it read or sent.
    declared = {**headers, "Content-Length": str(100 * 1024 * 1024)}
    started = time.monotonic()
    response = service.client.post("/v1/sentiment", content=b'{"texts": ["', headers=declared)
    assert response.status_code == 413 and time.monotonic() - started < 2
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "KESHENG_MAX_BODY_BYTES" in response.json()["detail"]
    # A real one over the limit.
    big = b'{"texts": ["' + "快递太慢".encode() * 500_000 + b'"]}'
    assert service.client.post("/v1/sentiment", content=big, headers=headers).status_code == 413


def test_a_streamed_body_is_counted_as_it_arrives(make_service: Callable[..., Service]) -> None:
    service = make_service(max_body_bytes=2048)
    headers = {**service.key("service"), "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"texts": ["'
        for _ in range(100):
            yield "物流太慢".encode() * 10
        yield b'"]}'

    response = service.client.post("/v1/sentiment", content=chunks(), headers=headers)
    assert response.status_code == 413 and response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "E613"
    fine = service.client.post("/v1/sentiment", json={"texts": ["物流太慢了"]}, headers=service.key("service"))
    assert fine.status_code == 200
    # Uploads have their own, larger limit.
    survey = ("编号,回答\n" + "".join(f"{i},第{i}单物流太慢了\n" for i in range(300))).encode()
    assert len(survey) > 2048
    status, _ = _upload(service, "survey.csv", survey, service.key())
    assert status == 202


def test_the_body_limit_holds_the_largest_valid_request() -> None:
    """200 turns of 2,000 characters, every character a \\uXXXX escape, as json.dumps writes it."""
    turns = [{"speaker": "customer", "text": "差" * 2000, "start": 86_400.0, "end": 86_400.0}] * 200
    largest = json.dumps({"id": "c" * 200, "turns": turns}).encode()
    assert len(largest) > 2_000_000
    assert len(largest) < Settings().max_body_bytes


def test_malformed_bodies_are_documented_problems(service: Service) -> None:
    headers = {**service.key("service"), "Content-Type": "application/json"}
    malformed = service.client.post("/v1/sentiment", content='{"texts": ["快递'.encode(), headers=headers)
    assert malformed.status_code == 422 and malformed.headers["content-type"] == PROBLEM_JSON
    undecodable = service.client.post("/v1/sentiment", content='{"texts": ["快递"]}'.encode("gbk"), headers=headers)
    assert undecodable.status_code == 400 and undecodable.headers["content-type"] == PROBLEM_JSON
    documented = service.client.get("/openapi.json").json()["paths"]["/v1/sentiment"]["post"]["responses"]
    for status in ("400", "413", "422"):
        assert documented[status]["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_a_405_lists_every_method_of_the_path(service: Service) -> None:
    response = service.client.request("TRACE", "/v1/labels", headers=service.key())
    assert response.status_code == 405 and response.headers["content-type"] == PROBLEM_JSON
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "POST"}
    response = service.client.delete("/v1/sentiment", headers=service.key())
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_one_rule_for_the_two_key_headers(service: Service) -> None:
    key = service.key("service")["Authorization"].removeprefix("Bearer ")
    other = service.key("service")["Authorization"].removeprefix("Bearer ")
    body = {"texts": ["服务很好"]}

    def status(**headers: str) -> int:
        return service.client.post("/v1/sentiment", json=body, headers=headers).status_code

    assert status(Authorization=f"Bearer {key}") == 200
    assert status(**{"X-API-Key": key}) == 200
    assert status(Authorization=f"Bearer {key}", **{"X-API-Key": key}) == 200  # the same key twice
    assert status(Authorization="Basic dXNlcjpwYXNz", **{"X-API-Key": key}) == 200  # a proxy's, not a key
    assert status(Authorization=f"Bearer {key}", **{"X-API-Key": other}) == 400  # two valid, different keys
    assert status(Authorization="Bearer junk", **{"X-API-Key": key}) == 400  # the issue's: junk no longer wins
    assert status(Authorization=f"Bearer {key}", **{"X-API-Key": "junk"}) == 400
    assert status(Authorization="Bearer junk") == 401
    assert status(Authorization="Basic dXNlcjpwYXNz") == 401
    two = service.client.post("/v1/sentiment", json=body, headers={"Authorization": "Bearer x", "X-API-Key": key})
    assert two.headers["content-type"] == PROBLEM_JSON and "two different API keys" in two.json()["detail"]


# --- item 5: the schema says what the server accepts ------------------------------------------------


def test_a_turn_may_carry_start_and_end_seconds(service: Service) -> None:
    call = {
        "id": "c1",
        "turns": [
            {"speaker": "客服", "text": "您好，这里是回访", "start": 0, "end": 2.5},
            {"speaker": "客户", "text": "快递三天还没到，太失望了", "start": 2.5, "end": 7.0},
        ],
    }
    response = service.client.post("/v1/sentiment", json=call, headers=service.key("service"))
    assert response.status_code == 200, response.text
    assert [t["speaker"] for t in response.json()["turns"]] == ["agent", "customer"]
    for bad in ({"start": -1}, {"end": "7"}, {"start": False}):
        turn = {"speaker": "客户", "text": "太慢了", **bad}
        refused = service.client.post("/v1/sentiment", json={"turns": [turn]}, headers=service.key("service"))
        assert refused.status_code == 422, bad


def test_the_schema_lists_the_speakers_the_server_reads(service: Service) -> None:
    schema = service.client.get("/openapi.json").json()
    speakers = schema["components"]["schemas"]["TurnIn"]["properties"]["speaker"]["enum"]
    assert {"agent", "customer", "客服", "坐席", "客户", "顾客", "用户"} <= set(speakers)
    for speaker in speakers:
        turn = {"speaker": speaker, "text": "好的"}
        accepted = service.client.post("/v1/sentiment", json={"turns": [turn]}, headers=service.key("service"))
        assert accepted.status_code == 200, speaker
    refused = service.client.post(
        "/v1/sentiment", json={"turns": [{"speaker": "路人", "text": "好的"}]}, headers=service.key("service")
    )
    assert refused.status_code == 422 and "unknown speaker '路人'" in refused.json()["detail"]


def test_the_schema_requires_what_the_server_requires(service: Service) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    resolve = paths["/v1/alerts/{alert_id}/resolve"]["post"]["requestBody"]
    assert resolve["required"] is True
    body = resolve["content"]["application/json"]["schema"]
    assert body["required"] == ["note"] and body["properties"]["note"]["pattern"] == r"\S"
    # A form field is never null: an upload's kind is one of the two, or left out.
    form = service.client.get("/openapi.json").json()["components"]["schemas"]["Body_upload_v1_batches_post"]
    assert form["properties"]["kind"]["enum"] == ["transcript", "survey"] and "anyOf" not in form["properties"]["kind"]
    survey = {"file": ("a.csv", "回答\n快递太慢\n".encode())}
    refused = service.client.post("/v1/batches", files=survey, data={"kind": "null"}, headers=service.key())
    assert refused.status_code == 422
    # Values are not coerced: the string "1" is not a batch id, nor "0" a date.
    label = {"batch_id": "1", "item_id": "S01", "label": "negative"}
    assert service.client.post("/v1/labels", json=label, headers=service.key()).status_code == 422
    assert service.client.get("/v1/heatmap?to=0", headers=service.key()).status_code == 422
    assert service.client.get("/v1/heatmap?to=2026-11-02", headers=service.key()).status_code == 200
    assert service.client.get("/v1/followups?due_before=0.5", headers=service.key()).status_code == 422
    assert service.client.get("/v1/followups?due_before=2026-11-02T09:30:00", headers=service.key()).status_code == 200


# --- item 3: spreadsheet-safe exports --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "exported"),
    [
        ('=HYPERLINK("http://evil.example","点我")差评', '\'=HYPERLINK("http://evil.example","点我")差评'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),  # a digit after the sign is no excuse
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-_-||快递丢了", "'-_-||快递丢了"),
        ("快递太慢了=差评", "快递太慢了=差评"),
        ("", ""),
        ("-0.5000", "-0.5000"),  # a number written as text stays a number
        ("+3", "+3"),
        ("-1e-05", "-1e-05"),
        (-0.5, -0.5),
        (3, 3),
        (None, None),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_exported_as_text(value: object, exported: object) -> None:
    assert spreadsheet_cell(value) == exported
    assert spreadsheet_row(["S01", value, 0.25]) == ["S01", exported, 0.25]


FORMULAS = [
    ("F1", '=HYPERLINK("http://evil.example","点我")差评', "=cmd|' /C calc'!A0"),
    ("F2", "+cmd|' /C calc'!A0 快递太慢了", "@SUM(1)"),
    ("F3", "@SUM(1) 客服态度太差了", "-2+3"),
    ("F4", "-_-|| 退款一直不到账，太差了", "钻石"),
]


def _formula_survey() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["编号", "回答", "备注"])
    writer.writerows(FORMULAS)
    return out.getvalue().encode()


def test_the_results_csv_passes_no_formula_and_keeps_numbers(service: Service) -> None:
    headers = service.key()
    status, created = _upload(service, "formulas.csv", _formula_survey(), headers)
    assert status == 202
    service.wait(int(str(created["id"])), headers)
    text = service.client.get(f"/v1/batches/{created['id']}/results?format=csv", headers=headers).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == ["F1", "F2", "F3", "F4"]
    for row in rows:
        for cell in row.values():
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only a number may start so (a negative score)
    assert rows[0]["text"].startswith("'=HYPERLINK(")
    assert rows[3]["text"].startswith("'-_-||")
    assert any(float(r["score"]) < 0 for r in rows), "negative scores stay numbers"
    assert json.loads(rows[0]["meta"])["备注"] == "=cmd|' /C calc'!A0"  # inside JSON, after "{": inert


def test_the_labels_export_passes_no_formula(service: Service, tmp_path: Path) -> None:
    headers = service.key()
    _, created = _upload(service, "formulas.csv", _formula_survey(), headers)
    batch_id = int(str(created["id"]))
    service.wait(batch_id, headers)
    for item_id in ("F1", "F4"):
        label = {"batch_id": batch_id, "item_id": item_id, "label": "negative"}
        assert service.client.post("/v1/labels", json=label, headers=headers).status_code in (200, 201)
    path = tmp_path / "labels.tsv"
    with service.services.factory() as session:
        assert export_labels(session, path).rows == 2
    rows = list(csv.reader(path.open(encoding="utf-8", newline=""), delimiter="\t"))
    assert rows[0] == ["label", "text"]
    assert [row[0] for row in rows[1:]] == ["0", "0"]
    assert rows[1][1].startswith("'=HYPERLINK(") and rows[2][1].startswith("'-_-||")
