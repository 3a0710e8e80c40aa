"""Personal data everywhere it can hide (issue 16): other columns, row errors, notes, the database and
its write-ahead log, the data folder, logs. What the business keeps to call back is held encrypted and
shown only to an admin, and each reveal is audited."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from api.crypto import DecryptError, Keyring, new_key
from api.protected import rotate_all, seal, unseal
from api.tables import AuditEntry, Item
from tests.api.conftest import Service

PLANTED = ["13812345678", "11010519491231002X", "zhang.wei@example.com", "6222021234567890128", "张伟", "13800000000"]
UPLOAD = (
    "编号,回答,日期,NPS,联系电话,客户姓名,备注\n"
    "P1,我是张伟，快递太慢了,2026-11-02,3,13812345678,张伟,zhang.wei@example.com\n"
    "P2,服务很好,13812345678,11010519491231002X,13812345678,张伟,卡号6222021234567890128\n"
    "P3,包装破了，客服也不理人,2026-11-03,2,13800000000,李娜,\n"
).encode()


def _everything_on_disk(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_no_planted_value_survives_anywhere_but_an_admin_can_reveal_the_phone(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    analyst, admin = service.key("analyst"), service.key("admin")
    with caplog.at_level(logging.DEBUG):
        created = service.client.post("/v1/batches", files={"file": ("pii.csv", UPLOAD)}, headers=analyst).json()
        status = service.wait(created["id"], analyst)
    assert status["status"] == "done" and status["counts"]["items"] == 3
    fields = {(e["row"], e["field"]) for e in status["errors"]}
    assert {(3, "date"), (3, "nps")} <= fields, "the bad cells are still reported, by row and field"
    shown = [json.dumps(status, ensure_ascii=False), caplog.text]
    for fmt in ("", "?format=jsonl", "?format=csv"):
        shown.append(service.client.get(f"/v1/batches/{created['id']}/results{fmt}", headers=analyst).text)
    first = service.client.get(f"/v1/batches/{created['id']}/results", headers=analyst).json()["items"][0]
    assert first["meta"]["联系电话"] == "[手机号]" and first["meta"]["客户姓名"] == "[姓名]"
    assert first["meta"]["备注"] == "[邮箱]" and "[姓名]" in first["text"]
    for planted in PLANTED:
        assert not any(planted in text for text in shown), planted

    # The database, its WAL and every other file of the data folder (staged uploads are gone).
    data = service.services.settings.data_dir
    assert not list((data / "staging").glob("*.upload"))
    for path, raw in _everything_on_disk(data).items():
        for planted in PLANTED:
            assert planted.encode() not in raw, f"{planted} in {path}"

    # Kept encrypted, for the roles allowed to see it; each reveal in the audit log.
    url = f"/v1/batches/{created['id']}/items/P1/reveal"
    assert service.client.post(url, headers=analyst).status_code == 403
    revealed = service.client.post(url, headers=admin)
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["fields"] == {"联系电话": "13812345678"}
    with service.services.factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "field.reveal")).all()
    assert [e.target for e in entries] == [f"item:{created['id']}:0"]
    assert "13812345678" not in json.dumps([e.detail for e in entries])


def test_alert_and_label_notes_are_redacted(service: Service) -> None:
    from tests.api.conftest import LEGAL_THREAT, SURVEY_ROWS, survey_csv

    analyst = service.key("analyst")
    batch = service.client.post(
        "/v1/batches", files={"file": ("s.csv", survey_csv([*SURVEY_ROWS, LEGAL_THREAT]))}, headers=analyst
    ).json()
    service.wait(batch["id"], analyst)
    (alert,) = service.client.get("/v1/alerts", headers=analyst).json()["items"]
    note = "已联系张伟 13812345678，邮件 zhang.wei@example.com"
    acked = service.client.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"note": note}, headers=analyst)
    assert acked.status_code == 200, acked.text
    written = acked.json()["history"][-1]["note"]
    assert written == "已联系[姓名] [手机号]，邮件 [邮箱]"
    label = service.client.post(
        "/v1/labels",
        json={"batch_id": batch["id"], "item_id": "S01", "label": "negative", "note": "张伟说 13812345678 打不通"},
        headers=analyst,
    )
    assert label.status_code == 200, label.text
    assert "13812345678" not in label.text and "张伟" not in label.text


def test_a_token_opens_only_for_its_own_item_and_field_and_rotation_keeps_it_readable(
    service: Service, tmp_path: Path
) -> None:
    old = Keyring.from_text(new_key(), "test")
    sealed = seal(old, 3, 7, {"联系电话": "13812345678"})
    assert sealed is not None and "13812345678" not in json.dumps(sealed)
    assert unseal(old, 3, 7, sealed) == {"联系电话": "13812345678"}
    with pytest.raises(DecryptError):
        unseal(old, 3, 8, sealed)  # copied onto another row
    with pytest.raises(DecryptError):
        unseal(Keyring.from_text(new_key(), "other"), 3, 7, sealed)

    analyst = service.key("analyst")
    created = service.client.post("/v1/batches", files={"file": ("pii.csv", UPLOAD)}, headers=analyst).json()
    service.wait(created["id"], analyst)
    settings = service.services.settings
    current = Keyring.load(settings.secret_key, settings.key_path())
    rotated = Keyring.from_text(new_key() + "," + ",".join(f"{k}:{_b64(v)}" for k, v in current.keys), "rotation")
    assert rotate_all(service.services.factory, rotated) == 3
    assert rotate_all(service.services.factory, rotated) == 0, "already under the new key"
    with service.services.factory() as session:
        item = session.scalars(select(Item).where(Item.item_id == "P3")).one()
        assert unseal(rotated, item.batch_id, item.row_index, item.protected) == {"联系电话": "13800000000"}
        with pytest.raises(DecryptError):
            unseal(current, item.batch_id, item.row_index, item.protected)
    assert oct(os.stat(settings.key_path()).st_mode & 0o777) == "0o600"


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode()
