"""Keys: created by the CLI (shown once, stored hashed), managed by admins, revoked at once, expiring
when they were made to."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.db import make_engine, migrate, session_factory
from api.errors import PROBLEM_JSON
from api.keys import create_key, duration, find_key, verify_key
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


# --- expiry (issue 16 item 4) --------------------------------------------------------------------


def test_a_key_with_an_expiry_works_until_then_and_gets_a_clear_401_after(service: Service) -> None:
    admin = service.key("admin")
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    created = service.client.post(
        "/v1/keys", json={"role": "service", "name": "外呼系统", "expires_at": soon.isoformat()}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert datetime.fromisoformat(body["expires_at"]) == soon and not body["expired"]
    crm = {"X-API-Key": body["key"]}
    assert service.client.post("/v1/sentiment", json={"texts": ["物流很快"]}, headers=crm).status_code == 200
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.1)
    # The key is still in the service's key cache: the expiry is checked on every request all the same.
    expired = service.client.post("/v1/sentiment", json={"texts": ["物流很快"]}, headers=crm)
    assert expired.status_code == 401 and expired.headers["content-type"] == PROBLEM_JSON
    assert f"id {body['id']}) expired at" in expired.json()["detail"] and "new key" in expired.json()["detail"]
    listed = {k["id"]: k for k in service.client.get("/v1/keys", headers=admin).json()}
    assert listed[body["id"]]["expired"] and listed[body["id"]]["revoked_at"] is None
    assert listed[1]["expires_at"] is None and not listed[1]["expired"]


@pytest.mark.parametrize(
    ("expires_at", "status", "says"),
    [
        ("2020-01-01T00:00:00+08:00", 422, "in the past"),
        ((datetime.now(UTC) + timedelta(days=20 * 365)).isoformat(), 422, "leave it out"),
        ("9999-12-31T23:59:59-01:00", 422, "leave it out"),
        ("0001-01-01T00:00:00+01:00", 422, "in the past"),
        ("明天", 422, "ISO"),
        (1893456000, 422, ""),  # a number is not a time here
    ],
)
def test_an_expiry_must_be_ahead_and_within_ten_years(
    service: Service, expires_at: object, status: int, says: str
) -> None:
    response = service.client.post(
        "/v1/keys", json={"role": "analyst", "expires_at": expires_at}, headers=service.key("admin")
    )
    assert response.status_code == status and says in response.json()["detail"]


def test_an_expiry_without_a_zone_is_utc(service: Service) -> None:
    ahead = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0, tzinfo=None)
    response = service.client.post(
        "/v1/keys", json={"role": "analyst", "expires_at": ahead.isoformat()}, headers=service.key("admin")
    )
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["expires_at"]) == ahead.replace(tzinfo=UTC)


def test_the_cli_creates_keys_that_expire_and_lists_their_expiry(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    month = runner.invoke(app, ["keys", "create", "--role", "service", "--expires-in", "30d", *data])
    assert month.exit_code == 0, month.output
    assert "expires" in month.stderr
    at = runner.invoke(app, ["keys", "create", "--role", "analyst", "--expires-at", "2030-06-30T18:00+08:00", *data])
    assert at.exit_code == 0, at.output
    factory = session_factory(make_engine(Settings(data_dir=tmp_path).database_url()))
    with factory() as session:
        first, second = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        assert first.expires_at is not None
        assert abs(first.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
        assert second.expires_at == datetime(2030, 6, 30, 10, 0, tzinfo=UTC)
    listed = runner.invoke(app, ["keys", "list", *data]).stdout.splitlines()
    assert "\texpires " in listed[0] or " expires " in listed[0]
    assert listed[1].endswith("expires 2030-06-30 10:00")
    for wrong in (
        ["--expires-in", "30x"],
        ["--expires-in", "0d"],
        ["--expires-in", "100000w"],
        ["--expires-at", "2020-01-01"],
        ["--expires-at", "下周一"],
        ["--expires-in", "30d", "--expires-at", "2030-01-01"],
    ):
        refused = runner.invoke(app, ["keys", "create", "--role", "service", *wrong, *data])
        assert refused.exit_code == 2, (wrong, refused.output)
    with factory() as session:
        assert len(session.scalars(select(ApiKey)).all()) == 2


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)),
     ("2w", timedelta(weeks=2)), (" 3600s ", timedelta(hours=1))],
)  # fmt: skip
def test_lifetimes_read_as_a_number_and_a_unit(text: str, lifetime: timedelta) -> None:
    assert duration(text) == lifetime


def test_an_expired_key_cannot_sign_in_anywhere(tmp_path: Path) -> None:
    engine = make_engine(Settings(data_dir=tmp_path).database_url())
    migrate(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        _, key = create_key(session, "analyst", expires_at=datetime.now(UTC) + timedelta(hours=1))
    with factory() as session:
        later = datetime.now(UTC) + timedelta(hours=2)
        assert verify_key(session, key) is not None
        assert verify_key(session, key, now=later) is None  # what the dashboard's sign-in asks
        found = find_key(session, key)
        assert found is not None and found.expired(later) and not found.expired(datetime.now(UTC))
