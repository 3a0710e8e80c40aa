"""The audit log: every accountable action of the API (upload, acknowledge, resolve, promote, roll
back, create and revoke a key) and of the CLI is an entry naming the key's id, never its secret or a
note's text; GET /v1/audit is for admins, filtered and paginated; the table refuses edits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from api.analysis import Analyzer
from api.audit import ACTIONS, AuditDetailError, record
from api.db import make_engine, migrate, session_factory
from api.model_holder import service_registry
from api.schemas.audit import AuditAction
from api.settings import Settings
from api.tables import AuditEntry
from kesheng.cli import app as cli
from tests.api.conftest import LEGAL_THREAT, Service, survey_csv
from tests.api.model_fixtures import BUILTIN, registry_service, write_gate_config

NOTE_ACK = "售后张经理跟进，客户电话13812345678"
NOTE_RESOLVE = "已上门检修并致电张伟道歉"


def _entries(service: Service, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    response = service.client.get("/v1/audit", params=query, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _key_id(service: Service, headers: dict[str, str], admin: dict[str, str] | None = None) -> int:
    """The id of the key in `headers` (listed with the `admin` key; default: itself)."""
    key = headers["Authorization"].removeprefix("Bearer ")
    listed = service.client.get("/v1/keys", headers=admin or headers).json()
    (row,) = [k for k in listed if key.startswith(f"ks_{k['prefix']}_")]
    key_id: int = row["id"]
    return key_id


def test_upload_acknowledge_resolve_and_keys_are_audited_without_their_text(service: Service) -> None:
    admin, analyst = service.key("admin"), service.key("analyst")
    admin_id, analyst_id = _key_id(service, admin), _key_id(service, analyst, admin)
    upload = service.client.post(
        "/v1/batches", files={"file": ("张伟的回访.csv", survey_csv([LEGAL_THREAT]))}, headers=analyst
    )
    batch_id = upload.json()["id"]
    assert service.wait(batch_id, analyst)["status"] == "done"
    again = service.client.post(
        "/v1/batches", files={"file": ("again.csv", survey_csv([LEGAL_THREAT]))}, headers=analyst
    )
    assert again.status_code == 200 and again.json()["duplicate"]
    (alert,) = [a for a in service.client.get("/v1/alerts", headers=analyst).json()["items"] if a["kind"] == "severe"]
    path = f"/v1/alerts/{alert['id']}"
    acknowledged = service.client.post(f"{path}/acknowledge", json={"note": NOTE_ACK}, headers=analyst)
    assert acknowledged.status_code == 200
    assert service.client.post(f"{path}/resolve", json={"note": "  "}, headers=analyst).status_code == 422
    resolved = service.client.post(f"{path}/resolve", json={"note": NOTE_RESOLVE}, headers=analyst)
    assert resolved.status_code == 200
    created = service.client.post("/v1/keys", json={"role": "service", "name": "CRM 张伟"}, headers=admin).json()
    assert service.client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 200
    assert service.client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 200  # no second entry

    body = _entries(service, admin)
    entries = body["items"]
    assert body["total"] == len(entries) == 8
    done = [(e["key_id"], e["action"], e["target"]) for e in reversed(entries)]  # oldest first
    assert done == [
        (None, "key.create", f"key:{admin_id}"),  # the test's keys, made on the machine (no API key)
        (None, "key.create", f"key:{analyst_id}"),
        (analyst_id, "batch.upload", f"batch:{batch_id}"),
        (analyst_id, "batch.upload", f"batch:{batch_id}"),
        (analyst_id, "alert.acknowledge", f"alert:{alert['id']}"),
        (analyst_id, "alert.resolve", f"alert:{alert['id']}"),  # the refused one (empty note) is not there
        (admin_id, "key.create", f"key:{created['id']}"),
        (admin_id, "key.revoke", f"key:{created['id']}"),
    ]
    uploads = [e["detail"] for e in reversed(entries) if e["action"] == "batch.upload"]
    assert uploads[0] == {"bytes": len(survey_csv([LEGAL_THREAT])), "items": 1, "duplicate": False}
    assert uploads[1]["duplicate"] is True
    by_action = {e["action"]: e for e in entries if e["key_id"] is not None}
    # The length of the note as stored (redacted: the phone number is a placeholder), never its text.
    stored_ack, stored_resolve = (r.json()["history"][-1]["note"] for r in (acknowledged, resolved))
    assert "13812345678" not in stored_ack
    assert by_action["alert.acknowledge"]["detail"] == {"note_chars": len(stored_ack)}
    assert by_action["alert.resolve"]["detail"] == {"note_chars": len(stored_resolve)}
    assert by_action["key.create"]["detail"] == {"role": "service", "expires_at": None}
    everything = json.dumps(body, ensure_ascii=False)
    for secret in ("张伟", "13812345678", "张经理", "CRM", created["key"], created["prefix"]):
        assert secret not in everything
    assert all(datetime.fromisoformat(e["at"]).tzinfo is not None for e in entries)


def test_the_log_is_for_admins_and_filtered_by_key_action_and_time(service: Service) -> None:
    admin = service.key("admin")
    admin_id = _key_id(service, admin)
    for role in ("service", "analyst", "service"):
        assert service.client.post("/v1/keys", json={"role": role}, headers=admin).status_code == 201
    assert service.client.get("/v1/audit", headers=service.key("analyst")).status_code == 403
    assert service.client.get("/v1/audit").status_code == 401

    mine = _entries(service, admin, key_id=admin_id)
    assert mine["total"] == 3 and {e["key_id"] for e in mine["items"]} == {admin_id}
    page = _entries(service, admin, action="key.create", limit=2, offset=1)
    assert (page["total"], page["offset"], page["limit"], len(page["items"])) == (5, 1, 2, 2)
    newest_first = [e["id"] for e in _entries(service, admin, action="key.create")["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    assert [e["id"] for e in page["items"]] == newest_first[1:3]
    assert _entries(service, admin, action="key.revoke")["total"] == 0

    now = datetime.now(UTC)
    assert _entries(service, admin, since=(now + timedelta(minutes=1)).isoformat())["total"] == 0
    assert _entries(service, admin, until=(now - timedelta(hours=1)).isoformat())["total"] == 0
    # Without a zone: UTC. Beijing time an hour ago is seven hours ahead of UTC: nothing is after it.
    beijing = (now + timedelta(hours=8) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert _entries(service, admin, since=beijing)["total"] == 0
    assert _entries(service, admin, since=f"{beijing}+08:00")["total"] == 5
    assert _entries(service, admin, since="0001-01-01T00:00:00+01:00", until="9999-12-31T23:59:59-01:00")["total"] == 5
    assert service.client.get("/v1/audit?action=key.delete", headers=admin).status_code == 422


def test_promotion_and_rollback_are_audited(tmp_path: Path, analyzer: Analyzer, tiny_model_dir: Path) -> None:
    config = write_gate_config(tmp_path / "config")
    with registry_service(tmp_path / "data", analyzer, registry_config=config) as service:
        service_registry(service.services.settings).register(tiny_model_dir, version="tiny-audit-1", parent=BUILTIN)
        admin = service.key("admin")
        admin_id = _key_id(service, admin)
        promote = "/v1/models/tiny-audit-1/promote"
        assert service.client.post(promote, json={}, headers=admin).status_code == 409  # the gate: not audited
        assert service.client.post(promote, json={"force": True}, headers=admin).status_code == 200
        assert service.client.post(promote, json={"force": True}, headers=admin).json()["promoted"] is False
        assert service.client.post("/v1/models/rollback", headers=admin).status_code == 200
        entries = _entries(service, admin, key_id=admin_id)["items"]
    assert [(e["action"], e["target"], e["detail"]) for e in reversed(entries)] == [
        ("model.promote", "model:tiny-audit-1", {"previous": BUILTIN, "forced": True}),
        ("model.rollback", f"model:{BUILTIN}", {"previous": "tiny-audit-1"}),
    ]


def test_the_cli_audits_the_keys_it_creates_and_revokes(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--role", "analyst", "--data-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert runner.invoke(cli, ["keys", "revoke", "1", "--data-dir", str(tmp_path)]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", "1", "--data-dir", str(tmp_path)]).exit_code == 0
    factory = session_factory(make_engine(Settings(data_dir=tmp_path).database_url()))
    with factory() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(r.key_id, r.action, r.target) for r in rows] == [
            (None, "key.create", "key:1"),
            (None, "key.revoke", "key:1"),
        ]


@pytest.fixture
def factory(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def test_the_table_is_append_only(factory: Any) -> None:
    with factory() as session, session.begin():
        record(session, 3, "field.reveal", "item:17/meta.phone", {"field": "meta.phone"})
    for statement in ("UPDATE audit_log SET key_id = 4", "DELETE FROM audit_log"):
        with factory() as session, pytest.raises(DatabaseError, match="append only"):
            session.execute(text(statement))
    with factory() as session:
        (row,) = session.scalars(select(AuditEntry)).all()
        assert (row.key_id, row.action, row.target, row.detail) == (
            3,
            "field.reveal",
            "item:17/meta.phone",
            {"field": "meta.phone"},
        )
        row.key_id = 5
        with pytest.raises(DatabaseError, match="append only"):
            session.commit()


@pytest.mark.parametrize(
    ("key_id", "action", "detail", "error"),
    [
        (1, "alert.acknowledge", {"note": "已联系张伟 13812345678"}, AuditDetailError),
        (1, "alert.acknowledge", {"note": "客户说下周再来电话确认退款进度以及发票是否已经开具" * 3}, AuditDetailError),
        (1, "alert.resolve", {"note": ["已联系张伟"]}, AuditDetailError),
        (1, "alert.resolve", {"meta": {"phone": "13812345678"}}, AuditDetailError),
        (1, "alert.delete", {}, ValueError),
        ("ks_1a2b3c4d_secret", "field.reveal", {}, ValueError),  # a key, not a key's id
    ],
)
def test_record_refuses_free_text_unknown_actions_and_keys(
    factory: Any, key_id: Any, action: str, detail: dict[str, Any], error: type[Exception]
) -> None:
    with factory() as session:
        with pytest.raises(error):
            record(session, key_id, action, "alert:al-1", detail)
        assert session.scalars(select(AuditEntry)).all() == []


def test_record_takes_the_key_id_as_text_and_joins_the_callers_transaction(factory: Any) -> None:
    with factory() as session:
        record(session, "12", "field.reveal", "item:3/meta.phone", {"field": "meta.phone", "chars": 11})
        session.rollback()  # the caller's action failed: its entry goes with it
        record(session, "12", "field.reveal", "item:3/meta.phone", {"field": "meta.phone", "chars": 11})
        session.commit()
        (row,) = session.scalars(select(AuditEntry)).all()
        assert row.key_id == 12 and row.detail == {"field": "meta.phone", "chars": 11}


def test_the_schema_lists_the_actions_record_takes() -> None:
    assert get_args(AuditAction) == ACTIONS
