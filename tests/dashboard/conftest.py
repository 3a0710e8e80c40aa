"""A real service on a free port (uvicorn in a thread, the lexicon scorer) fed with two weeks of survey
answers in which 华南's logistics complaints cross the alert threshold and two follow-up calls (one
abnormal), and a headless Chromium.

The browser is Debian's chromium driven by its chromium-driver (scripts/browser.sh installs them, as
root, when missing); without them the browser tests are skipped, never failed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.analysis import Analyzer
from api.app import create_app
from api.keys import create_key
from api.services import Services
from api.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "browser.sh"
CHINESE_UI = Path("/usr/lib/chromium/locales/zh-CN.pak")
HEADER = "编号,回答,客户等级,渠道,区域,产品线,日期,NPS评分"
# 华南: logistics complaints, every day of the second week; elsewhere, praise and a few complaints.
SOUTH_COMPLAINTS = (
    "快递太慢了，等了一个星期才到",
    "物流太差了，包装都压坏了",
    "配送员态度恶劣，东西扔在门口就走",
    "快递三天还没到，催了也没人管",
    "送货太慢了，非常失望",
)
ELSEWHERE = (
    ("华东", "客服态度很好，问题很快解决了", "10"),
    ("华北", "质量不错，价格实惠，下次还买", "9"),
    ("华东", "安装师傅很专业，非常满意", "10"),
    ("华北", "退款一直不到账，太差了", "2"),
)
TIERS = ("钻石", "黄金", "白银", "基础")


def survey_rows(first_monday: date) -> list[str]:
    rows = []
    for day in range(14):
        when = (first_monday + timedelta(days=day)).isoformat()
        south = 3 if day < 7 else 5  # the second week: more, and all of them complaints
        for i in range(south):
            text = SOUTH_COMPLAINTS[(day + i) % len(SOUTH_COMPLAINTS)] if day >= 7 or i == 0 else "物流很快，包装完好"
            nps = "2" if any(word in text for word in ("慢", "差", "没", "恶劣")) else "9"
            rows.append(f"S{day:02d}{i},{text},{TIERS[(day + i) % 4]},APP,华南,净水器,{when},{nps}")
        for i, (region, text, nps) in enumerate(ELSEWHERE):
            rows.append(f"E{day:02d}{i},{text},{TIERS[(day + i + 1) % 4]},微信,{region},扫地机器人,{when},{nps}")
    return rows


def survey_csv(first_monday: date) -> bytes:
    return ("\n".join([HEADER, *survey_rows(first_monday)]) + "\n").encode("gbk")


# Follow-up calls of the second week (华东): one the customer ends angry (an abnormal call, on the
# follow-up list), one that goes well. Start and end seconds per turn.
CALLS = (
    ("C-0001", "钻石", (
        ("agent", "您好，这里是客服中心回访，请问您对上次的配送满意吗？"),
        ("customer", "快递太慢了，等了一个星期才到"),
        ("agent", "非常抱歉，我们会反馈给物流部门"),
        ("customer", "每次都这样说，根本没人管，太气人了，我要投诉！"),
    )),
    ("C-0002", "黄金", (
        ("agent", "您好，回访一下您的安装体验"),
        ("customer", "安装师傅很专业，非常满意"),
        ("agent", "感谢您的认可"),
        ("customer", "好的，谢谢"),
    )),
)  # fmt: skip


def calls_jsonl(first_monday: date) -> bytes:
    lines = []
    for n, (call_id, tier, turns) in enumerate(CALLS):
        clock, timed = 0.0, []
        for speaker, text in turns:
            timed.append({"speaker": speaker, "text": text, "start": clock, "end": clock + 6.0})
            clock += 8.0
        meta = {"tier": tier, "channel": "电话回访", "region": "华东", "product": "净水器",
                "date": (first_monday + timedelta(days=8 + n)).isoformat()}  # fmt: skip
        lines.append(json.dumps({"id": call_id, "turns": timed, "meta": meta}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


# An after-sales survey of 西北, exported from a Chinese Excel (GBK), months before the two weeks above
# and without NPS, so that it changes none of their figures. Rows 3, 5 and 7 of the file are bad: an
# empty answer, an impossible date, a date that is not one.
NORTHWEST = (
    "安装师傅准时上门，很专业",
    "维修拖了一个星期，太慢了",
    "退款一直不到账，客服也不回复",
    "质量不错，用着放心",
)


def gbk_survey(rows: int = 1500) -> bytes:
    day = (date.today() - timedelta(weeks=30)).isoformat()
    lines = ["编号,回答,客户等级,渠道,区域,产品线,日期"]
    for i in range(rows):
        text, when = NORTHWEST[i % len(NORTHWEST)], day
        if i == 1:
            text = ""
        elif i == 3:
            when = "2026-13-45"
        elif i == 5:
            when = "昨天"
        lines.append(f"G{i:04d},{text},{TIERS[i % 4]},短信,西北,热水器,{when}")
    return ("\n".join(lines) + "\n").encode("gbk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    base: str
    services: Services
    keys: dict[str, str]

    def api(self, role: str = "analyst") -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": self.keys[role]}, timeout=30)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("dashboard-service")
    settings = Settings(data_dir=data, lexicon=True, worker_poll_seconds=0.05)
    app = create_app(settings, analyzer=Analyzer(Settings(data_dir=data / "unused", lexicon=True)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    services: Services = app.state.services
    keys = {}
    for role in ("service", "analyst", "admin"):
        with services.factory() as session, session.begin():
            _, keys[role] = create_key(session, role, name=f"测试{role}")
    live = Live(base, services, keys)
    monday = date.today() - timedelta(days=date.today().weekday() + 14)
    uploads = (("回访问卷.csv", survey_csv(monday), "text/csv"), ("回访通话.jsonl", calls_jsonl(monday), "text/plain"))
    with live.api() as client:
        for upload in uploads:
            created = client.post("/v1/batches", files={"file": upload})
            assert created.status_code == 202, created.text
            batch = created.json()["id"]
            while (status := client.get(f"/v1/batches/{batch}").json()["status"]) not in ("done", "failed"):
                assert time.monotonic() < deadline + 120, "the batch was not analysed in time"
                time.sleep(0.1)
            assert status == "done", upload[0]
    yield live
    server.should_exit = True
    thread.join(timeout=10)


def _browser_available() -> bool:
    if shutil.which("chromium") and shutil.which("chromedriver") and CHINESE_UI.exists():
        return True
    # The project installs what its tests need (as root, from apt); elsewhere the tests cannot run (or,
    # without chromium-l10n, run with the browser's own widgets in English).
    if SCRIPT.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["bash", str(SCRIPT), "install"], check=False, capture_output=True)
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium with its console log kept (the tests fail on any SEVERE entry)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not _browser_available():
        pytest.skip("no chromium/chromedriver (scripts/browser.sh install, as root)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000",
                     "--lang=zh-CN"):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # A Chinese manager's browser: its own widgets (date fields, file pickers) in Chinese too.
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    # LANG stays a UTF-8 locale that exists here (file names are Chinese); LANGUAGE picks the UI words
    # (chromium-l10n's zh-CN.pak, which scripts/browser.sh installs).
    chinese = {**os.environ, "LANGUAGE": "zh-CN", "LANG": "C.UTF-8", "TZ": "Asia/Shanghai"}
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver"), env=chinese), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots of every view are kept: $KESHENG_SCREENSHOTS, else the run's tmp folder."""
    chosen = os.environ.get("KESHENG_SCREENSHOTS")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(chosen)
    return tmp_path_factory.mktemp("dashboard-screenshots")
