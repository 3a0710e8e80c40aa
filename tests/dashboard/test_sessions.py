"""Sign-in over plain HTTP: the cookie's attributes, CSRF on every form, roles, revocation, sign-out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from api.tables import ApiKey
from tests.dashboard.conftest import Live


def signed_in(live: Live, role: str = "analyst") -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=live.base, timeout=30)
    page = client.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None and 'type="password"' in page.text
    return client, client.post("/login", data={"key": live.keys[role], "csrf": csrf.group(1)})


def page_csrf(client: httpx.Client, path: str = "/dashboard/alerts") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_the_session_cookie_is_httponly_strict_and_expires(live: Live) -> None:
    client, answer = signed_in(live)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("kesheng_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=36000" in cookie
    page = client.get("/dashboard")
    assert page.status_code == 200 and "总览" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_form_without_its_csrf_token_is_refused(live: Live) -> None:
    client, _ = signed_in(live)
    alert = live.api().get("/v1/alerts").json()["items"][-1]["id"]
    refused = client.post(f"/dashboard/alerts/{alert}/acknowledge", data={"note": "无令牌"})
    assert refused.status_code == 403 and "表单已过期" in refused.text
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/dashboard").status_code == 200, "a refused sign-out leaves the session"


def test_sign_in_refuses_service_and_unknown_keys_and_a_missing_login_token(live: Live) -> None:
    client, answer = signed_in(live, "service")
    assert answer.status_code == 401 and "服务密钥" in answer.text
    assert "kesheng_session" not in client.cookies
    page = client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    wrong = client.post("/login", data={"key": "ks_00000000_" + "x" * 30, "csrf": token.group(1)})
    assert wrong.status_code == 401 and "无效" in wrong.text
    fresh = httpx.Client(base_url=live.base)
    assert fresh.post("/login", data={"key": live.keys["analyst"], "csrf": "x"}).status_code == 403


def test_sign_out_and_revocation_end_the_session(live: Live) -> None:
    client, _ = signed_in(live)
    token = client.cookies["kesheng_session"]
    assert client.post("/logout", data={"csrf": page_csrf(client)}).status_code == 303
    replay = httpx.Client(base_url=live.base, cookies={"kesheng_session": token})
    assert replay.get("/dashboard").headers["location"].startswith("/?err=")
    admin, _ = signed_in(live, "admin")
    assert admin.get("/dashboard/models").status_code == 200
    with live.services.factory() as session, session.begin():
        key = session.query(ApiKey).filter(ApiKey.name == "测试admin").one()
        revoked, key.revoked_at = key.revoked_at, datetime.now(UTC)
    try:
        assert admin.get("/dashboard/models").status_code == 303
    finally:
        with live.services.factory() as session, session.begin():
            session.query(ApiKey).filter(ApiKey.name == "测试admin").one().revoked_at = revoked


def test_an_analyst_gets_403_on_admin_pages_and_actions(live: Live) -> None:
    client, _ = signed_in(live)
    assert client.get("/dashboard/models").status_code == 403
    refused = client.post("/dashboard/models/rollback", data={"csrf": page_csrf(client)})
    assert refused.status_code == 403 and "仅限管理员" in refused.text


def test_the_heatmap_csv_and_a_cells_verbatims_csv(live: Live) -> None:
    client, _ = signed_in(live)
    cells = client.get("/dashboard/heatmap.csv", params={"dimension": "region"})
    assert cells.status_code == 200 and cells.content.startswith("\ufeff".encode())
    rows = cells.content.decode("utf-8-sig").splitlines()
    south = next(r for r in rows if r.startswith("logistics,物流配送,华南,"))
    api = live.api().get("/v1/heatmap", params={"dimension": "region"}).json()
    cell = next(c for c in api["cells"] if c["theme"] == "logistics" and c["column"] == "华南")
    assert south.split(",")[3] == str(cell["mentions"])
    quotes = client.get(
        "/dashboard/heatmap/cell",
        params={"dimension": "region", "theme": "logistics", "column": "华南", "format": "csv"},
    )
    lines = quotes.content.decode("utf-8-sig").splitlines()
    assert len(lines) - 1 == cell["mentions"], "one line per mention of the cell"
    assert all(",物流配送,华南," in line for line in lines[1:])


def test_a_keys_expiry_ends_its_dashboard_sessions(live: Live) -> None:
    client, _ = signed_in(live)
    assert client.get("/dashboard").status_code == 200
    with live.services.factory() as session, session.begin():
        key = session.query(ApiKey).filter(ApiKey.name == "测试analyst").one()
        before, key.expires_at = key.expires_at, datetime.now(UTC) - timedelta(minutes=1)
    try:
        answer = client.get("/dashboard")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/?err=")
    finally:
        with live.services.factory() as session, session.begin():
            session.query(ApiKey).filter(ApiKey.name == "测试analyst").one().expires_at = before
    assert client.get("/dashboard").status_code == 200, "the same session again once the key is valid"
