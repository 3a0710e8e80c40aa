"""The dashboard in a real headless Chromium, as a manager uses it: sign in, read the heatmap, open a
cell's verbatims, acknowledge and resolve the 华南 logistics alert, and no console error on the way.
Screenshots of every view are kept in the session's dashboard-screenshots folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.dashboard.conftest import Live

pytestmark = pytest.mark.slow

By: Any = pytest.importorskip("selenium.webdriver.common.by").By


def severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for the page"
        time.sleep(0.1)


def body(driver: Any) -> str:
    """The page's visible text ("" while a navigation replaces the page under us)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def sign_in(driver: Any, live: Live, role: str) -> None:
    driver.delete_all_cookies()
    driver.get(live.base + "/")
    field = driver.find_element(By.CSS_SELECTOR, "input[type=password]")
    field.send_keys(live.keys[role])
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait_for(lambda: urlparse(driver.current_url).path == "/dashboard" or "服务密钥" in body(driver))


def test_sign_in_and_overview(chromium: Any, live: Live, shots: Path) -> None:
    chromium.get(live.base + "/dashboard")
    assert urlparse(chromium.current_url).path == "/", "a page without a session leads to the sign-in form"
    chromium.get_log("browser")  # the redirect itself is not an error
    chromium.save_screenshot(str(shots / "0-login.png"))
    sign_in(chromium, live, "analyst")
    text = body(chromium)
    for words in ("总览", "反馈量", "负面占比", "NPS 净推荐值", "推荐者", "贬损者", "未关闭告警", "物流配送"):
        assert words in text
    assert chromium.find_elements(By.CSS_SELECTOR, "#overview-chart canvas")
    assert "模型" not in chromium.find_element(By.TAG_NAME, "nav").text, "analysts get no admin link"
    chromium.save_screenshot(str(shots / "1-overview.png"))
    assert severe(chromium) == []


def test_heatmap_and_a_cells_verbatims(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "需求热力图").click()
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, "#heatmap-chart canvas"))
    text = body(chromium)
    assert "物流配送" in text and "华南" in text
    chromium.save_screenshot(str(shots / "2-heatmap.png"))
    chromium.find_element(By.CSS_SELECTOR, "button.cell-open[data-theme=logistics][data-column='华南']").click()
    panel = wait_for(
        lambda: [p for p in chromium.find_elements(By.ID, "verbatims") if "原话：物流配送 · 华南" in p.text]
    )[0]
    items = panel.find_elements(By.CSS_SELECTOR, "li.verbatim")
    assert items, "the cell lists its verbatims"
    assert any(i.find_elements(By.CSS_SELECTOR, ".unit mark.opinion") for i in items), "opinion words highlighted"
    first = items[0].text
    assert "负面" in first and "华南" in first and "问卷 S" in first, first
    chromium.execute_script("arguments[0].scrollIntoView()", panel)
    chromium.save_screenshot(str(shots / "3-verbatims.png"))
    assert severe(chromium) == []


def test_acknowledge_then_resolve_the_south_logistics_alert(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "告警").click()
    cards = [c for c in chromium.find_elements(By.CSS_SELECTOR, "article.alert") if "物流配送 · 华南" in c.text]
    assert cards, body(chromium)
    card = cards[0]
    alert_id = card.get_attribute("id")
    assert "供应链管理部" in card.text and "待处理" in card.text and "剩余" in card.text
    chromium.save_screenshot(str(shots / "4-alerts.png"))
    card.find_element(By.XPATH, ".//button[contains(., '确认受理')]").click()
    note = chromium.find_element(By.ID, f"ack-note-{alert_id}")
    assert note.is_displayed()
    note.send_keys("已联系物流商，本周内排查华南线路")
    chromium.find_element(By.CSS_SELECTOR, f"#ack-{alert_id} button[type=submit]").click()
    card = wait_for(lambda: chromium.find_elements(By.ID, alert_id))[0]
    assert "已确认" in card.text and f"告警 {alert_id} 已确认" in body(chromium)
    chromium.save_screenshot(str(shots / "5-acknowledged.png"))
    card.find_element(By.XPATH, ".//button[contains(., '标记为已解决')]").click()
    chromium.find_element(By.ID, f"res-note-{alert_id}").send_keys("更换华南配送商，时效恢复到两天")
    chromium.find_element(By.CSS_SELECTOR, f"#res-{alert_id} button[type=submit]").click()
    card = wait_for(lambda: chromium.find_elements(By.ID, alert_id))[0]
    assert "已解决" in card.text
    assert severe(chromium) == []
    with live.api() as api:
        alert = next(a for a in api.get("/v1/alerts").json()["items"] if a["id"] == alert_id)
    assert alert["status"] == "resolved"
    assert [h["note"] for h in alert["history"]][-2:] == [
        "已联系物流商，本周内排查华南线路",
        "更换华南配送商，时效恢复到两天",
    ]


def test_followups_trend_and_batches_views(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    for n, (link, words) in enumerate(
        [("趋势", "各需求每周负面占比"), ("回访清单", "回访清单"), ("批次", "回访问卷.csv")], start=6
    ):
        chromium.find_element(By.LINK_TEXT, link).click()
        wait_for(lambda words=words: words in body(chromium))
        chromium.save_screenshot(str(shots / f"{n}-{link}.png"))
    assert "已完成" in body(chromium) and "下载结果" in body(chromium)
    assert severe(chromium) == []


def test_an_analyst_cannot_reach_admin_pages_and_an_admin_can(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.get(live.base + "/dashboard/models")
    assert "无权访问" in body(chromium) and "仅限管理员" in body(chromium)
    assert [e for e in severe(chromium) if "403" not in e["message"]] == []
    sign_in(chromium, live, "admin")
    chromium.find_element(By.LINK_TEXT, "模型").click()
    assert "当前启用" in body(chromium)
    chromium.save_screenshot(str(shots / "9-models.png"))
    assert severe(chromium) == []


def test_a_service_key_cannot_sign_in_and_sign_out_ends_the_session(chromium: Any, live: Live) -> None:
    sign_in(chromium, live, "service")
    assert "服务密钥" in body(chromium) and urlparse(chromium.current_url).path == "/login"
    assert [e for e in severe(chromium) if "401" not in e["message"]] == []
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.XPATH, "//button[.='退出']").click()
    wait_for(lambda: "已退出登录" in body(chromium))
    assert chromium.get_cookie("kesheng_session") is None
    chromium.get(live.base + "/dashboard/alerts")
    assert urlparse(chromium.current_url).path == "/" and "请先登录" in body(chromium)


def test_the_api_docs_render_with_no_request_leaving_the_machine(chromium: Any, live: Live, shots: Path) -> None:
    chromium.get_log("performance")
    chromium.get(live.base + "/docs")
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"), timeout=20)
    assert "/v1/heatmap" in body(chromium)
    chromium.save_screenshot(str(shots / "10-docs.png"))
    chromium.get(live.base + "/redoc")
    wait_for(lambda: "heatmap" in body(chromium).lower(), timeout=20)
    import json

    hosts = set()
    for entry in chromium.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlparse(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.netloc)
    assert hosts == {urlparse(live.base).netloc}
    assert severe(chromium) == []
