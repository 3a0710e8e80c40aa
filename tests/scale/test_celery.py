"""Celery workers over Redis on PostgreSQL, with the real servers and the real default model: two
workers sharing a batch, a worker SIGKILLed mid-chunk, the broker restarted and the broker's data lost
mid-batch, a chunk that fails on every delivery, retraining on its own queue and webhook pushes retried
as tasks. Every batch must end with each of its rows stored exactly once.

One deployment serves the module: a database, a Redis database, a shared data folder and key, the
service (create_app in this process, in Celery mode: its dispatcher hands uploads to the broker) and
two `kesheng worker` processes (chunks of 6 rows, a 10 s visibility timeout so that a lost worker's
chunk comes back quickly).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.analysis import Analyzer
from api.app import create_app
from api.crypto import new_key
from api.db import make_engine, session_factory
from api.keys import create_key
from api.settings import Settings, load_config
from api.store import accept_upload
from api.tables import AlertRow, Batch, BatchChunk, HeatmapBatchDay, Item, TrainingJob
from api.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from api.worker import Worker
from tests.api.conftest import LEGAL_THREAT, survey_csv
from tests.scale.conftest import ROOT, RedisServer, WorkerProcess, base_environment, new_database, start_worker

pytestmark = pytest.mark.slow

CHUNK = 6
SECRET = "scale-test-webhook-secret"
# Answers as a survey export has them: complaints, praise and a question, each made distinct by its number.
ANSWERS = (
    "快递第{i}天还没到，打客服电话也没人接，太失望了",
    "安装师傅第{i}次上门就修好了，很专业，非常满意",
    "退款申请提交{i}天了还没到账，客服态度恶劣",
    "净水器用了{i}个月滤芯就堵了，出水很慢",
    "价格实惠，质量不错，已经推荐给{i}个朋友",
    "请问第{i}号订单的发票什么时候能开？",
    "扫地机器人第{i}天就不充电了，售后一直推脱",
    "客服小王很耐心，{i}分钟就解决了问题",
)
TIERS = ("钻石", "黄金", "白银", "基础")


def survey_rows(n: int, tag: str) -> list[tuple[str, ...]]:
    return [
        (
            f"{tag}{i:03d}",
            ANSWERS[i % len(ANSWERS)].format(i=i + 1),
            TIERS[i % len(TIERS)],
            ("APP", "微信", "电话回访")[i % 3],
            ("华东", "华南", "华北")[i % 3],
            ("净水器", "扫地机器人")[i % 2],
            f"2026-11-{1 + i % 9:02d}",
            str(i % 11),
        )
        for i in range(n)
    ]


def call_lines(n: int, tag: str) -> bytes:
    """Transcripts (JSONL) of follow-up calls, a few turns each: slower to analyse than survey answers."""
    lines = []
    for i in range(n):
        turns = [
            {"speaker": "客服", "text": f"您好，这里是净水器回访，请问第{i + 1}次安装还满意吗？"},
            {"speaker": "客户", "text": ANSWERS[i % len(ANSWERS)].format(i=i + 1)},
            {"speaker": "客服", "text": "非常抱歉给您带来不便，我们会尽快处理"},
            {"speaker": "客户", "text": "希望这次真的能解决，之前已经催了好几次了"},
        ]
        meta = {"tier": TIERS[i % 4], "channel": "电话回访", "region": "华东", "date": f"2026-11-{1 + i % 9:02d}"}
        lines.append(json.dumps({"id": f"{tag}{i:03d}", "turns": turns, "meta": meta}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 503 to the first two POSTs of each event, then 200."""

    def __init__(self) -> None:
        self.posts: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers[TIMESTAMP_HEADER]
                expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                signed = self.headers[SIGNATURE_HEADER] == f"sha256={expected}"
                key = self.headers[IDEMPOTENCY_HEADER]
                status = 503 if len(receiver.posts[key]) < 2 else 200
                receiver.posts[key].append((status, signed))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Deployment:
    settings: Settings
    env: dict[str, str]
    factory: sessionmaker[Session]
    client: TestClient
    keys: dict[str, dict[str, str]]
    workers: dict[str, WorkerProcess]
    folder: Path
    redis: RedisServer
    receiver: Receiver

    def start(self, name: str, queues: str = "batches,webhooks") -> WorkerProcess:
        worker = start_worker(self.env, self.folder / f"{name}.log", queues)
        self.workers[name] = worker
        return worker

    def upload(self, content: bytes, filename: str) -> int:
        answer = self.client.post("/v1/batches", files={"file": (filename, content)}, headers=self.keys["analyst"])
        assert answer.status_code == 202, answer.text
        batch_id: int = answer.json()["id"]
        return batch_id

    def wait(self, batch_id: int, timeout: float = 150.0) -> Batch:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.factory() as session:
                batch = session.get_one(Batch, batch_id)
            if batch.status in ("done", "failed"):
                return batch
            time.sleep(0.2)
        logs = "\n".join(f"--- {n}\n{w.text()[-2000:]}" for n, w in self.workers.items())
        raise AssertionError(f"batch {batch_id} is {batch.status}/{batch.phase} after {timeout}s\n{logs}")

    def wait_for(self, what: str, check: Any, timeout: float = 60.0, every: float = 0.01) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(every)
        raise AssertionError(f"not seen within {timeout}s: {what}")

    def stored_once(self, batch_id: int, expected: int) -> None:
        """Every row of the batch stored exactly once, the batch completed once."""
        with self.factory() as session:
            rows = session.scalars(select(Item.row_index).where(Item.batch_id == batch_id)).all()
            ids = session.scalars(select(Item.item_id).where(Item.batch_id == batch_id)).all()
            batch = session.get_one(Batch, batch_id)
            added = session.scalar(select(func.sum(HeatmapBatchDay.items)).where(HeatmapBatchDay.batch_id == batch_id))
        assert batch.status == "done", batch.error
        assert sorted(rows) == list(range(expected)), "each row once"
        assert len(ids) == len(set(ids)) == expected, "each item id once"
        assert batch.processed == batch.total == expected
        assert added == expected, "the batch's items added to the aggregates once"

    def chunks(self, batch_id: int) -> list[BatchChunk]:
        with self.factory() as session:
            return list(
                session.scalars(select(BatchChunk).where(BatchChunk.batch_id == batch_id).order_by(BatchChunk.chunk))
            )


@pytest.fixture(scope="module")
def deployment(
    pg_cluster: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, model_analyzer: Analyzer
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("celery")
    receiver = Receiver()
    rules = (ROOT / "data" / "alerts.toml").read_text(encoding="utf-8")
    webhook = f'[webhook]\nurl = "{receiver.url}"\nsecret_env = "KESHENG_WEBHOOK_SECRET"\nbackoff_seconds = 0.2\n'
    rules_path = folder / "alerts.toml"
    rules_path.write_text(re.sub(r"\[webhook\][^\[]*", webhook + "\n", rules, flags=re.S), encoding="utf-8")
    env = {
        **base_environment(),
        "KESHENG_DB_URL": new_database(pg_cluster),
        "KESHENG_BROKER_URL": redis_server.url(next(redis_server.databases)),
        "KESHENG_DATA_DIR": str(folder / "data"),
        "KESHENG_SECRET_KEY": new_key(),
        "KESHENG_RULES_PATH": str(rules_path),
        "KESHENG_WEBHOOK_SECRET": SECRET,
        "KESHENG_WORKER_CHUNK_SIZE": str(CHUNK),
        "KESHENG_WORKER_POLL_SECONDS": "0.1",
        "KESHENG_BROKER_VISIBILITY_TIMEOUT": "10",
        "KESHENG_BROKER_REDISPATCH_SECONDS": "12",
        "KESHENG_TASK_RETRY_SECONDS": "0.2",
    }
    settings = load_config(environ=env).service
    workers = {
        name: start_worker(env, folder / f"{name}.log", queues)
        for name, queues in (("w1", "batches,webhooks"), ("w2", "batches,webhooks,training"))
    }
    engine = make_engine(settings.db_url)
    factory = session_factory(engine)
    try:
        with TestClient(create_app(settings, analyzer=model_analyzer)) as client:
            with factory() as session, session.begin():
                keys = {role: {"X-API-Key": create_key(session, role)[1]} for role in ("analyst", "admin")}
            for worker in workers.values():
                worker.wait_ready()
            yield Deployment(settings, env, factory, client, keys, workers, folder, redis_server, receiver)
    finally:
        for worker in workers.values():
            worker.stop()
        receiver.server.shutdown()
        engine.dispose()


def test_two_workers_share_a_batch_and_store_each_row_once(
    deployment: Deployment, model_analyzer: Analyzer, tmp_path: Path
) -> None:
    rows = [*survey_rows(41, "T"), LEGAL_THREAT]
    content = survey_csv(rows)
    batch_id = deployment.upload(content, "两个工作进程.csv")
    batch = deployment.wait(batch_id)
    deployment.stored_once(batch_id, len(rows))
    chunks = deployment.chunks(batch_id)
    assert len(chunks) == 7 and all(c.status == "done" and c.attempts == 1 for c in chunks)
    assert {c.worker for c in chunks} == {deployment.workers["w1"].node, deployment.workers["w2"].node}
    assert batch.themes and batch.labels["negative"] > batch.labels.get("positive", 0)

    # The same file through the in-process worker (SQLite, same model): the same results, row for row.
    local = Settings(data_dir=tmp_path, redact_names=True, worker_chunk_size=CHUNK)
    engine = make_engine(local.database_url())
    from api.db import migrate

    migrate(engine)
    factory = session_factory(engine)
    local_id = accept_upload(factory, local, content, "两个工作进程.csv", kind=None, columns=None).batch.id
    assert Worker(factory, model_analyzer, local).run_once()

    def results(factory: sessionmaker[Session], batch_id: int) -> list[dict[str, Any]]:
        with factory() as session:
            return list(session.scalars(select(Item.result).where(Item.batch_id == batch_id).order_by(Item.row_index)))

    ours, theirs = results(deployment.factory, batch_id), results(factory, local_id)
    assert [r["id"] for r in ours] == [r[0] for r in rows]
    assert [(r["sentiment"]["label"], r["themes"], r["text"]) for r in ours] == [
        (r["sentiment"]["label"], r["themes"], r["text"]) for r in theirs
    ]
    engine.dispose()

    # The diamond customer's legal threat is a severe alert, pushed by the webhook task: refused twice
    # (503), retried as new tasks with backoff, delivered on the third attempt, signed, one key throughout.
    with deployment.factory() as session:
        (alert,) = [data for data in session.scalars(select(AlertRow.data)) if data["kind"] == "severe"]
    key = f"{alert['id']}:open"
    deployment.wait_for("the severe alert delivered", lambda: len(deployment.receiver.posts[key]) >= 3, 30, 0.1)

    def delivered() -> dict[str, Any] | None:
        with deployment.factory() as session:
            data = session.get_one(AlertRow, alert["id"]).data
        return data if data["deliveries"] else None

    deliveries = deployment.wait_for("the delivery recorded", delivered, 10, 0.1)["deliveries"]
    assert deployment.receiver.posts[key] == [(503, True), (503, True), (200, True)]
    assert [(d["status"], d["attempts"], d["response_status"]) for d in deliveries] == [("delivered", 3, 200)]


def test_a_worker_killed_mid_chunk_is_replaced_and_each_row_is_stored_once(deployment: Deployment) -> None:
    calls = 48
    batch_id = deployment.upload(call_lines(calls, "K"), "回访通话.jsonl")
    victim = deployment.workers["w1"]

    def taken_by_victim() -> BatchChunk | None:
        return next((c for c in deployment.chunks(batch_id) if c.worker == victim.node and c.status == "pending"), None)

    chunk = deployment.wait_for("a chunk in w1's hands", taken_by_victim, 60, 0.005)
    victim.kill()
    (at_kill,) = [c for c in deployment.chunks(batch_id) if c.chunk == chunk.chunk]
    assert at_kill.status == "pending", "killed before the chunk was committed"
    deployment.start("w3").wait_ready()

    deployment.wait(batch_id)
    deployment.stored_once(batch_id, calls)
    (again,) = [c for c in deployment.chunks(batch_id) if c.chunk == chunk.chunk]
    assert again.status == "done" and again.attempts == 2 and again.worker != victim.node


def test_the_broker_restarted_mid_batch(deployment: Deployment) -> None:
    rows = survey_rows(60, "R")
    batch_id = deployment.upload(survey_csv(rows), "重启.csv")
    deployment.wait_for("two chunks in", lambda: sum(c.status == "done" for c in deployment.chunks(batch_id)) >= 2)
    deployment.redis.stop()
    time.sleep(2)
    deployment.redis.start()
    deployment.wait(batch_id)
    deployment.stored_once(batch_id, len(rows))


def test_the_broker_lost_its_queues_mid_batch(deployment: Deployment) -> None:
    rows = survey_rows(60, "L")
    batch_id = deployment.upload(survey_csv(rows), "丢失.csv")
    deployment.wait_for("two chunks in", lambda: sum(c.status == "done" for c in deployment.chunks(batch_id)) >= 2)
    db = deployment.settings.broker_url.rsplit("/", 1)[1]
    deployment.redis.cli(int(db), "FLUSHDB")  # every queued task gone, as with a broker that lost its data
    # No progress for broker_redispatch_seconds (12 s) with the queue empty: the service plans it again.
    batch = deployment.wait(batch_id, timeout=90)
    deployment.stored_once(batch_id, len(rows))
    assert batch.status == "done"


def test_a_chunk_that_fails_on_every_delivery_fails_the_batch_with_its_error(
    deployment: Deployment, tmp_path: Path
) -> None:
    calls = call_lines(30, "F")
    # The batch accepted by an API whose data folder the workers do not see (a deployment without the
    # shared folder): every chunk fails to find the upload, on every delivery.
    elsewhere = replace(deployment.settings, data_dir=tmp_path)
    batch_id = accept_upload(deployment.factory, elsewhere, calls, "无共享.jsonl", kind=None, columns=None).batch.id
    batch = deployment.wait(batch_id, timeout=60)
    assert batch.status == "failed"
    assert batch.error is not None
    assert re.fullmatch(
        rf"chunk \d failed 3 times: batch {batch_id}: its uploaded file is missing; upload it again", batch.error
    )
    chunks = deployment.chunks(batch_id)
    assert len(chunks) == 5 and all(c.status in ("pending", "failed") for c in chunks)
    failed = [c for c in chunks if c.status == "failed"]
    assert failed and all(c.attempts == 3 and "missing" in (c.error or "") for c in failed)
    assert all(c.attempts <= 3 for c in chunks), "no chunk is tried once the batch has failed"
    with deployment.factory() as session:
        assert session.scalar(select(func.count()).select_from(Item).where(Item.batch_id == batch_id)) == 0

    # The file uploaded again: the batch is queued and planned again, and completes, each row once.
    answer = deployment.client.post(
        "/v1/batches", files={"file": ("无共享.jsonl", calls)}, headers=deployment.keys["analyst"]
    )
    assert answer.json()["duplicate"] is True and answer.json()["id"] == batch_id
    deployment.wait(batch_id)
    deployment.stored_once(batch_id, 30)


def test_training_jobs_run_on_the_training_queue(deployment: Deployment) -> None:
    labels = "text\tlabel\n物流太慢了，差评\t0\n服务很好，下次还来\t1\n还行吧\t5\n".encode()
    answer = deployment.client.post(
        "/v1/training-jobs", files={"file": ("标注.tsv", labels)}, headers=deployment.keys["admin"]
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]

    def finished() -> TrainingJob | None:
        with deployment.factory() as session:
            row = session.get_one(TrainingJob, job_id)
        return row if row.status in ("done", "failed") else None

    done = deployment.wait_for("the training job finished", finished, 120, 0.2)
    assert done.status == "failed" and done.problems, done.error
    assert any(p.get("row") == 4 for p in done.problems), done.problems
    assert f"taken by worker {deployment.workers['w2'].node}" in done.log, "only w2 consumes the training queue"
