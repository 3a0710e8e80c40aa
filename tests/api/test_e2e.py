"""`kesheng serve` as a real process: uploads, polling, results, heatmap and alerts over HTTP; and a
process killed with SIGKILL mid-batch that resumes on restart without losing or repeating a row."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import LEGAL_THREAT, TRANSCRIPTS_JSONL, survey_csv
from tests.api.test_schema import free_port

pytestmark = pytest.mark.slow
KESHENG = [sys.executable, "-m", "kesheng"]
SEGMENT = ("黄金", "APP", "华东", "净水器", "2026-11-03", "5")
TEMPLATES = [
    "物流太慢了，等了{n}天才到",
    "客服态度很好，问题{n}分钟就解决了",
    "退款{n}天还没到账，很失望",
    "质量不错，价格也实惠，第{n}次回购",
    "安装师傅迟到了{n}个小时",
    "包装破损，东西摔坏了{n}个",
]


class Server:
    """A `kesheng serve` child process on a free port of 127.0.0.1."""

    def __init__(self, data_dir: Path, *options: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"serve-{self.port}.log"
        command = [*KESHENG, "serve", "--port", str(self.port), "--data-dir", str(data_dir), *options]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
            )
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)


def create_key(data_dir: Path, role: str) -> str:
    done = subprocess.run(
        [*KESHENG, "keys", "create", "--role", role, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def wait_done(client: httpx.Client, batch_id: int, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/batches/{batch_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} not done in {timeout}s")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)


def test_serve_end_to_end(data_dir: Path, servers: list[Server]) -> None:
    key = create_key(data_dir, "analyst")
    servers.append(server := Server(data_dir))
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        survey = client.post("/v1/batches", files={"file": ("问卷.csv", survey_csv(encoding="gbk"))})
        calls = client.post(
            "/v1/batches", files={"file": ("calls.jsonl", TRANSCRIPTS_JSONL)}, data={"kind": "transcript"}
        )
        assert (survey.status_code, calls.status_code) == (202, 202)
        survey_batch = wait_done(client, survey.json()["id"])
        calls_batch = wait_done(client, calls.json()["id"])
        assert survey_batch["status"] == calls_batch["status"] == "done"
        assert survey_batch["read"]["encoding"] in ("gbk", "gb18030")
        assert (survey_batch["counts"]["items"], survey_batch["counts"]["row_errors"]) == (7, 1)
        assert calls_batch["counts"]["items"] == 2

        results = client.get(f"/v1/batches/{survey.json()['id']}/results").json()
        assert results["total"] == 7
        texts = {r["id"]: r["text"] for r in results["items"]}
        assert "13912345678" not in texts["S01"] and "[手机号]" in texts["S01"]
        assert all(r["sentiment"]["model_version"] != "lexicon-1" for r in results["items"]), "the real model"
        call = client.get(f"/v1/batches/{calls.json()['id']}/results").json()["items"][0]
        assert call["id"] == "c1" and call["sentiment"]["label"] == "negative"

        heatmap = client.get("/v1/heatmap", params={"dimension": "tier"}).json()
        assert heatmap["items"] == 9, "every answer and call, counted by its aspect mentions"
        assert sum(c["mentions"] for c in heatmap["cells"]) == heatmap["mentions"] >= 9
        assert heatmap["columns"] == ["钻石", "黄金", "白银", "基础"]
        assert client.get("/v1/trend").json()["weeks"] == ["2026-W45"]

        # A diamond customer's refund complaint is someone to call back, not a department alert.
        followups = {f["item_id"]: f for f in client.get("/v1/followups").json()["items"]}
        assert "S04" in followups and followups["S04"]["segment"]["tier"] == "钻石"
        assert followups["S04"]["aspect"]["label"] == "negative" and followups["S04"]["due"]
        alerts = client.get("/v1/alerts").json()
        assert not [a for a in alerts["items"] if a["kind"] == "severe"], alerts
        # A safety harm and a legal threat from a diamond customer is.
        legal = client.post("/v1/batches", files={"file": ("legal.csv", survey_csv([LEGAL_THREAT]))})
        assert wait_done(client, legal.json()["id"])["status"] == "done"
        alerts = client.get("/v1/alerts").json()
        severe = [a for a in alerts["items"] if a["kind"] == "severe"]
        assert [a["item_id"] for a in severe] == ["S09"], alerts
        acknowledged = client.post(f"/v1/alerts/{severe[0]['id']}/acknowledge", json={"note": "已转售后"})
        assert acknowledged.json()["status"] == "acknowledged"

        again = client.post("/v1/batches", files={"file": ("copy.csv", survey_csv(encoding="gbk"))})
        assert again.status_code == 200 and again.json()["id"] == survey.json()["id"]
        assert client.get("/v1/heatmap").json()["items"] == 10, "the duplicate adds nothing, S09 one"
    server.stop()
    log = server.log.read_text(errors="replace")
    assert "Application shutdown complete" in log, "SIGTERM shuts down gracefully (uvicorn then re-raises it)"
    assert key not in log


def test_a_killed_service_resumes_its_batch_without_loss_or_duplicates(data_dir: Path, servers: list[Server]) -> None:
    rows = [
        (
            f"K{i:05d}",
            TEMPLATES[i % len(TEMPLATES)].format(n=i % 9 + 1),
            "黄金",
            "APP",
            "华东",
            "净水器",
            "2026-11-03",
            "5",
        )
        for i in range(4000)
    ]
    key = create_key(data_dir, "analyst")
    options = ("--lexicon", "--no-names")
    env = {"KESHENG_WORKER_CHUNK_SIZE": "10"}
    servers.append(first := Server(data_dir, *options, env=env))
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=first.url, headers=headers, timeout=30) as client:
        batch_id = client.post("/v1/batches", files={"file": ("big.csv", survey_csv(rows))}).json()["id"]
        progress: list[int] = []
        while True:
            body = client.get(f"/v1/batches/{batch_id}").json()
            progress.append(body["processed"])
            assert body["status"] != "done", "the batch finished before it could be interrupted"
            if body["processed"] >= 200:
                break
            time.sleep(0.01)
    first.stop(signal.SIGKILL)
    assert progress == sorted(progress), "progress only grows"

    database = sqlite3.connect(data_dir / "kesheng.db")
    stored_at_kill = database.execute("SELECT processed, status FROM batches WHERE id = ?", (batch_id,)).fetchone()
    assert 200 <= stored_at_kill[0] < 4000 and stored_at_kill[1] == "running"
    assert database.execute("SELECT COUNT(*) FROM items").fetchone()[0] == stored_at_kill[0]

    servers.append(second := Server(data_dir, *options, env=env))
    with httpx.Client(base_url=second.url, headers=headers, timeout=30) as client:
        done = wait_done(client, batch_id, timeout=300)
        assert (done["status"], done["processed"], done["total"]) == ("done", 4000, 4000)
        results = client.get(f"/v1/batches/{batch_id}/results", params={"format": "jsonl"}).text.splitlines()
    assert len(results) == 4000
    count, distinct_rows, distinct_ids = database.execute(
        "SELECT COUNT(*), COUNT(DISTINCT row_index), COUNT(DISTINCT item_id) FROM items WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    assert count == distinct_rows == distinct_ids == 4000
    assert database.execute("SELECT attempts FROM batches WHERE id = ?", (batch_id,)).fetchone()[0] == 2
    database.close()
