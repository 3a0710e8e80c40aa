"""The dashboard in a real headless Chromium, as a manager uses it: sign in, read the heatmap, open a
cell's verbatims, acknowledge and resolve the 华南 logistics alert, and no console error on the way.
Screenshots of every view are kept in the session's dashboard-screenshots folder."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.dashboard.conftest import Live, gbk_survey

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


def shoot(driver: Any, path: Path) -> None:
    """A screenshot of the whole page, beyond the window (Chrome's DevTools protocol)."""
    import base64

    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


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
    shoot(chromium, shots / "0-login.png")
    sign_in(chromium, live, "analyst")
    text = body(chromium)
    for words in ("总览", "反馈量", "负面占比", "NPS 净推荐值", "推荐者", "贬损者", "未关闭告警", "物流配送"):
        assert words in text
    assert chromium.find_elements(By.CSS_SELECTOR, "#overview-chart canvas")
    assert "模型" not in chromium.find_element(By.TAG_NAME, "nav").text, "analysts get no admin link"
    shoot(chromium, shots / "1-overview.png")
    assert severe(chromium) == []


def test_heatmap_and_a_cells_verbatims(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "需求热力图").click()
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, "#heatmap-chart canvas"))
    text = body(chromium)
    assert "物流配送" in text and "华南" in text
    shoot(chromium, shots / "2-heatmap.png")
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
    shoot(chromium, shots / "3-verbatims.png")
    assert severe(chromium) == []


def test_a_months_heatmap_draws_within_a_second(chromium: Any, live: Live) -> None:
    sign_in(chromium, live, "analyst")
    today = date.today()
    month = f"from={(today - timedelta(days=30)).isoformat()}&to={today.isoformat()}"
    for dimension in ("region", "week", "tier"):
        chromium.get(f"{live.base}/dashboard/heatmap?dimension={dimension}&{month}")
        node = wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, "#heatmap-chart[data-drawn-at]"))[0]
        # In the browser: from the page's last byte to the chart drawn (parsing, ECharts, layout, paint).
        arrived = chromium.execute_script("return performance.getEntriesByType('navigation')[0].responseEnd")
        drawing = float(node.get_attribute("data-drawn-at")) - float(arrived)
        assert 0 < drawing < 1000, f"{dimension}: {drawing:.0f} ms to draw"
        assert "物流配送" in body(chromium)
    assert severe(chromium) == []


def test_acknowledge_then_resolve_the_south_logistics_alert(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "告警").click()
    cards = [c for c in chromium.find_elements(By.CSS_SELECTOR, "article.alert") if "物流配送 · 华南" in c.text]
    assert cards, body(chromium)
    card = cards[0]
    alert_id = card.get_attribute("id")
    assert "供应链管理部" in card.text and "待处理" in card.text and "剩余" in card.text
    shoot(chromium, shots / "4-alerts.png")
    card.find_element(By.XPATH, ".//button[contains(., '确认受理')]").click()
    note = chromium.find_element(By.ID, f"ack-note-{alert_id}")
    assert note.is_displayed()
    note.send_keys("已联系物流商，本周内排查华南线路")
    chromium.find_element(By.CSS_SELECTOR, f"#ack-{alert_id} button[type=submit]").click()
    # The answer is a new page: its message first, then the card on it (not the old page's).
    wait_for(lambda: f"告警 {alert_id} 已确认" in body(chromium))
    card = chromium.find_element(By.ID, alert_id)
    assert "已确认" in card.text
    shoot(chromium, shots / "5-acknowledged.png")
    card.find_element(By.XPATH, ".//button[contains(., '标记为已解决')]").click()
    chromium.find_element(By.ID, f"res-note-{alert_id}").send_keys("更换华南配送商，时效恢复到两天")
    chromium.find_element(By.CSS_SELECTOR, f"#res-{alert_id} button[type=submit]").click()
    wait_for(lambda: f"告警 {alert_id} 已解决" in body(chromium))
    assert "已解决" in chromium.find_element(By.ID, alert_id).text
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
        shoot(chromium, shots / f"{n}-{link}.png")
    assert "已完成" in body(chromium) and "下载结果" in body(chromium)
    chromium.find_element(By.XPATH, "//article[contains(., '回访问卷.csv')]//a[.='查看条目']").click()
    wait_for(lambda: "下一页" in body(chromium))
    shoot(chromium, shots / "14-批次条目.png")
    assert severe(chromium) == []


def test_root_cause_paths_draw_a_sankey(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "根因路径").click()
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, "#paths-chart canvas"))
    text = body(chromium)
    assert "需求 → 负面观点 → 推荐度" in text and "快递·慢" in text and "低分（0–6）" in text
    shoot(chromium, shots / "11-根因路径.png")
    select = chromium.find_element(By.NAME, "segment")
    select.find_element(By.XPATH, "./option[.='区域：华南']").click()
    chromium.find_element(By.XPATH, "//form[contains(@class,'filters')]//button[.='应用筛选']").click()
    wait_for(lambda: "segment=region" in chromium.current_url and "该细分" in body(chromium))
    assert "退款·不到账" not in body(chromium), "华北's refunds are not 华南's"
    assert severe(chromium) == []


def test_an_abnormal_call_from_the_follow_up_list(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "回访清单").click()
    chromium.find_element(By.LINK_TEXT, "C-0001").click()
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, "#call-chart canvas"))
    text = body(chromium)
    for words in ("通话 C-0001", "异常通话", "客户以愤怒结束通话", "情绪由失望转怒", "太气人了", "愤怒"):
        assert words in text, words
    turns = chromium.find_elements(By.CSS_SELECTOR, "li.turn")
    assert [t.get_attribute("class").split()[1] for t in turns] == ["agent", "customer", "agent", "customer"]
    assert "负面" in turns[-1].text and "0:24" in turns[-1].text
    shoot(chromium, shots / "12-通话.png")
    assert severe(chromium) == []


def test_a_gbk_upload_shows_its_progress_and_its_bad_rows(
    chromium: Any, live: Live, shots: Path, tmp_path: Path
) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    path = tmp_path / "西北售后回访.csv"
    path.write_bytes(gbk_survey())
    sign_in(chromium, live, "analyst")
    chromium.find_element(By.LINK_TEXT, "批次").click()
    chromium.find_element(By.ID, "file").send_keys(str(path))
    chromium.find_element(By.XPATH, "//form[contains(@class,'upload')]//button").click()
    card = wait_for(
        lambda: [c for c in chromium.find_elements(By.CSS_SELECTOR, "article.batch") if path.name in c.text]
    )[0]
    batch = card.get_attribute("data-batch")
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + 120
    while True:
        try:
            node = chromium.find_element(By.CSS_SELECTOR, f"article.batch[data-batch='{batch}']")
            status, value = (
                node.get_attribute("data-status"),
                float(node.find_element(By.TAG_NAME, "progress").get_attribute("value")),
            )
        except (NoSuchElementException, StaleElementReferenceException):
            continue  # the page reloads once the batch is done
        if not seen or seen[-1] != (status, value):
            seen.append((status, value))
            if len(seen) == 2:
                chromium.save_screenshot(str(shots / "15-上传进度.png"))
        if status == "done":
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)
    assert seen[0][0] in ("queued", "running") and seen[0][1] < 1, f"the bar was watched from the start: {seen}"
    assert seen[-1] == ("done", 1.0) and [v for _, v in seen] == sorted(v for _, v in seen), seen
    card = chromium.find_element(By.CSS_SELECTOR, f"article.batch[data-batch='{batch}']")
    assert "已完成" in card.text and "编码 GBK / GB18030" in card.text and "格式 问卷 CSV" in card.text
    rows = [r.text for r in card.find_elements(By.CSS_SELECTOR, "details tbody tr")]
    assert rows[:3] == [
        f"{path.name} 3 回答内容 “回答”列为空，该行未分析",
        f"{path.name} 5 日期 日期“2026-13-45”不存在，已忽略该字段（“日期”列）",
        f"{path.name} 7 日期 无法识别的日期“昨天”（应写作 2026-11-02 或 2026年11月2日），已忽略该字段（“日期”列）",
    ], rows
    cells = card.find_elements(By.CSS_SELECTOR, "details tbody tr td:last-child")
    assert cells[0].get_attribute("title") == "empty text in column '回答'; row skipped", "the reader's words kept"
    chromium.execute_script("arguments[0].scrollIntoView()", card)
    shoot(chromium, shots / "16-上传完成.png")
    assert severe(chromium) == []


def test_an_analyst_cannot_reach_admin_pages_and_an_admin_can(chromium: Any, live: Live, shots: Path) -> None:
    sign_in(chromium, live, "analyst")
    nav = chromium.find_element(By.TAG_NAME, "nav").text
    assert "模型" not in nav and "密钥" not in nav
    for page in ("/dashboard/models", "/dashboard/keys"):
        chromium.get(live.base + page)
        assert "无权访问" in body(chromium) and "仅限管理员" in body(chromium), page
    shoot(chromium, shots / "9-无权访问.png")
    assert [e for e in severe(chromium) if "403" not in e["message"]] == []
    sign_in(chromium, live, "admin")
    chromium.find_element(By.LINK_TEXT, "模型").click()
    assert "当前启用" in body(chromium)
    shoot(chromium, shots / "9-models.png")
    chromium.find_element(By.LINK_TEXT, "密钥").click()
    chromium.find_element(By.NAME, "name").send_keys("华东回访组 李主管")
    chromium.find_element(By.XPATH, "//form[@action='/dashboard/keys']//button").click()
    key = wait_for(lambda: chromium.find_elements(By.ID, "new-key"))[0].text
    assert key.startswith("ks_") and "密钥只显示这一次" in body(chromium)
    row = next(r for r in chromium.find_elements(By.CSS_SELECTOR, "table.keys tbody tr") if "华东回访组" in r.text)
    assert "分析员" in row.text and "有效" in row.text
    shoot(chromium, shots / "13-密钥.png")
    row.find_element(By.XPATH, ".//button[.='吊销']").click()
    wait_for(lambda: "已吊销密钥" in body(chromium))
    row = next(r for r in chromium.find_elements(By.CSS_SELECTOR, "table.keys tbody tr") if "华东回访组" in r.text)
    assert "已吊销" in row.text and key not in body(chromium)
    with httpx.Client(base_url=live.base, headers={"X-API-Key": key}) as api:
        assert api.get("/v1/heatmap").status_code == 401
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
    shoot(chromium, shots / "10-docs.png")
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
