"""Keys: created by the CLI (shown once, stored hashed), managed by admins, revoked at once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from api.db import make_engine, session_factory
from api.settings import Settings
from api.tables import ApiKey
from kesheng.cli import app
from tests.api.conftest import Service

runner = CliRunner()


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--role", "analyst", "--name", "运营", "--data-dir", str(tmp_path)])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("ks_")
    factory = session_factory(make_engine(Settings(data_dir=tmp_path).database_url()))
    with factory() as session:
        row = session.scalars(select(ApiKey)).one()
        assert (row.role, row.name) == ("analyst", "运营")
        assert key not in (row.hash, row.prefix) and key.split("_")[1] == row.prefix
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(tmp_path)])
    assert "analyst" in listed.stdout and key not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", "1", "--data-dir", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "7", "--data-dir", str(tmp_path)]).exit_code == 2
    bad = runner.invoke(app, ["keys", "create", "--role", "root", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2


def test_admins_manage_keys_and_revocation_is_immediate(service: Service) -> None:
    admin = service.key("admin")
    created = service.client.post("/v1/keys", json={"role": "service", "name": "CRM"}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "service" and body["key"].startswith(f"ks_{body['prefix']}_")
    crm = {"X-API-Key": body["key"]}
    assert service.client.post("/v1/sentiment", json={"texts": ["好"]}, headers=crm).status_code == 200
    listed = service.client.get("/v1/keys", headers=admin).json()
    assert [k["role"] for k in listed] == ["admin", "service"] and "key" not in listed[1]
    assert service.client.get("/v1/keys", headers=service.key("analyst")).status_code == 403
    assert service.client.post("/v1/keys", json={"role": "admin"}, headers=crm).status_code == 403

    revoked = service.client.delete(f"/v1/keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert service.client.post("/v1/sentiment", json={"texts": ["好"]}, headers=crm).status_code == 401
    assert service.client.delete(f"/v1/keys/{listed[0]['id']}", headers=admin).status_code == 409
    assert service.client.delete("/v1/keys/999", headers=admin).status_code == 404
