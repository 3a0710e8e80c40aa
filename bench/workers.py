"""Scale-out capacity: the same 12,000-answer batch analysed by 1 and by 2 Celery workers.

    .venv/bin/python bench/workers.py [--rows 12000] [--workers 1,2] [--chunk 32] [--json]

A throwaway PostgreSQL (scripts/postgres.sh) and Redis (scripts/redis.sh) on 127.0.0.1; for each
worker count a fresh database and Redis database, that many `kesheng worker --queues batches
--concurrency 1` processes with one ONNX thread each (KESHENG_MODEL_THREADS=1, the real default model,
person-name redaction on), all loaded before the clock starts; the batch is accepted (staged, as an
upload is) and handed to the broker as the service's dispatcher does. Printed for each count:

- items/s over the whole batch (dispatch → done: chunks, then completion: themes, aggregates, alerts),
  and over the chunks alone (dispatch → last chunk committed);
- the completion's own time (the one step that does not spread over workers);
- memory per worker: peak RSS of the pool process (which holds the model) and RSS of the main process;
- the ratio of items/s of the largest count to 1 worker (target ≥ 1.6 with 2 workers on 2 cores).

Then the write path alone: the stored results committed again as chunks (api.distributed.chunks.commit:
the batch's row lock, the items inserted if absent, the chunk marked done) by 1 and 4 threads into one
batch (its commits take turns on its row lock) and by 4 threads into 4 batches: the items/s PostgreSQL
takes, which bounds how many workers one database serves. The load average is printed
before and after: the machine's cores may be shared.

The helpers (servers, workers) serve bench/replay_kill.py too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from api.crypto import new_key  # noqa: E402
from api.db import make_engine, migrate, session_factory  # noqa: E402
from api.settings import Settings, load_config  # noqa: E402

SURVEY = ROOT / "data" / "samples" / "survey.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass
class Servers:
    """A throwaway PostgreSQL cluster and Redis server under `folder`."""

    folder: Path
    pg: str
    redis_port: int

    @classmethod
    def start(cls) -> Servers:
        folder = Path(tempfile.mkdtemp(prefix="kesheng-bench-"))
        os.chmod(folder, 0o755)  # as root, the cluster runs as `postgres`
        for script in ("postgres.sh", "redis.sh"):
            subprocess.run(["bash", str(ROOT / "scripts" / script), "install"], check=True)
        pg = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), "start", str(folder / "pg"), str(free_port())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        port = free_port()
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "redis.sh"), "start", str(folder / "redis"), str(port)],
            capture_output=True,
            check=True,
        )
        return cls(folder, pg, port)

    def stop(self) -> None:
        subprocess.run(["bash", str(ROOT / "scripts" / "redis.sh"), "kill", str(self.folder / "redis")], check=False)
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", str(self.folder / "pg")], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def database(self, name: str) -> str:
        admin = make_engine(self.pg).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.pg.rsplit("/", 1)[0] + f"/{name}"

    def environment(self, name: str, redis_db: int, chunk: int, **extra: str) -> dict[str, str]:
        """The variables of a deployment on database `name` and Redis database `redis_db`."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("KESHENG_")}
        return {
            **base,
            "KESHENG_DB_URL": self.database(name),
            "KESHENG_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/{redis_db}",
            "KESHENG_DATA_DIR": str(self.folder / name),
            "KESHENG_SECRET_KEY": new_key(),
            "KESHENG_WORKER_CHUNK_SIZE": str(chunk),
            "KESHENG_MODEL_THREADS": "1",
            **extra,
        }


@dataclass
class Worker:
    """A `kesheng worker` process (its own process group) and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], log: Path, queues: str = "batches") -> Worker:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "kesheng", "worker", "--queues", queues, "--concurrency", "1"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log)

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"worker exited: {self.log.read_text(errors='replace')[-2000:]}")
            if "kesheng.api.tasks: model " in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise SystemExit(f"worker not ready after {timeout}s")

    def pool_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def memory_mib(self) -> tuple[float, float]:
        """(peak RSS of the pool processes, RSS of the main process), MiB."""

        def status(pid: int, field: str) -> float:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
            return 0.0

        pool = sum(status(pid, "VmHWM") for pid in self.pool_pids())
        return pool, status(self.process.pid, "VmRSS")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def survey(rows: int) -> bytes:
    """`rows` answers from data/samples/survey.csv, repeated as needed with ids of their own."""
    with SURVEY.open(encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        base = list(reader)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i in range(rows):
        row = list(base[i % len(base)])
        row[0] = f"B{i:06d}"
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def run_batch(env: dict[str, str], content: bytes, name: str) -> dict[str, float]:
    """Accept `content` as a batch, hand it to the workers, wait: its timings (seconds)."""
    from api.distributed.celery_app import Broker
    from api.distributed.dispatcher import Dispatcher
    from api.store import accept_upload
    from api.tables import Batch, BatchChunk

    settings = load_config(environ=env).service
    engine = make_engine(settings.database_url())
    migrate(engine)
    factory = session_factory(engine)
    batch_id = accept_upload(factory, settings, content, name, kind=None, columns=None).batch.id
    dispatcher = Dispatcher(factory, Broker(settings), settings)
    start = time.monotonic()
    dispatcher.dispatch_batches()
    scored = None
    while True:
        with factory() as session:
            batch = session.get_one(Batch, batch_id)
            if scored is None and batch.total and batch.processed >= batch.total:
                scored = time.monotonic() - start
            if batch.status in ("done", "failed"):
                break
        time.sleep(0.1)
    total = time.monotonic() - start
    with factory() as session:
        chunks = session.scalar(select(func.count()).select_from(BatchChunk).where(BatchChunk.batch_id == batch_id))
    dispatcher.broker.close()
    engine.dispose()
    if batch.status != "done":
        raise SystemExit(f"batch failed: {batch.error}")
    return {"seconds": total, "scored_seconds": scored or total, "chunks": float(chunks or 0), "items": batch.total}


def write_path(env: dict[str, str], threads: int, chunk: int, batches: int) -> float:
    """Items/s of the chunk commit path alone: the stored items of the done batch committed again as the
    chunks of `batches` new batches (api.distributed.chunks.commit: the batch's row lock, the items
    inserted if absent, the chunk marked done) by `threads` threads."""
    from api.distributed import chunks
    from api.tables import Batch, BatchChunk, Item

    settings = load_config(environ=env).service
    engine = make_engine(settings.database_url())
    factory = session_factory(engine)
    with factory() as session:
        source = session.scalars(select(Batch).where(Batch.status == "done").order_by(Batch.id)).first()
        assert source is not None
        rows = [
            {c: getattr(item, c) for c in ("row_index", "item_id", "kind", "label", "negative_probability", "date")}
            | {"result": item.result, "top_theme": item.top_theme}
            for item in session.scalars(select(Item).where(Item.batch_id == source.id).order_by(Item.row_index))
        ]
    work: list[tuple[chunks.Taken, list[dict[str, Any]]]] = []
    share = len(rows) // batches
    for b in range(batches):
        part = rows[b * share : (b + 1) * share]
        with factory() as session, session.begin():
            copy = Batch(
                sha256=f"write-path-{threads}-{batches}-{b}-{time.time()}",
                filename="write-path.csv",
                status="running",
                phase="scoring",
                total=len(part),
                created_at=source.created_at,
                updated_at=source.created_at,
            )
            session.add(copy)
            session.flush()
            batch_id = copy.id
            chunks.plan(session, copy, chunk)
        with factory() as session:
            for c in session.scalars(select(BatchChunk).where(BatchChunk.batch_id == batch_id)):
                stored = [{**r, "batch_id": batch_id, "row_index": i} for i, r in enumerate(part)][
                    c.first : c.first + c.count
                ]
                work.append((chunks.Taken(batch_id, c.chunk, c.first, c.count, 1, None), stored))
    work.sort(key=lambda w: (w[0].chunk, w[0].batch_id))  # the batches' chunks interleaved, as workers take them
    items = sum(len(stored) for _, stored in work)
    lock = threading.Lock()

    def commit_all() -> None:
        while True:
            with lock:
                if not work:
                    return
                taken, stored = work.pop(0)
            chunks.commit(factory, taken, stored, "bench")

    start = time.monotonic()
    pool = [threading.Thread(target=commit_all) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.monotonic() - start
    engine.dispose()
    return items / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=12_000)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--chunk", type=int, default=Settings().worker_chunk_size)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    content = survey(args.rows)
    print(f"load average before: {load()}  ({os.cpu_count()} cores)", flush=True)
    servers = Servers.start()
    report: dict[str, Any] = {"rows": args.rows, "chunk": args.chunk, "load_before": load(), "runs": {}}
    last_env: dict[str, str] = {}
    try:
        for n, count in enumerate(counts):
            env = servers.environment(f"bench{count}", n + 1, args.chunk)
            workers = [Worker.start(env, servers.folder / f"w{count}-{i}.log") for i in range(count)]
            for worker in workers:
                worker.wait_ready()
            timings = run_batch(env, content, f"bench-{count}.csv")
            memory = [w.memory_mib() for w in workers]
            for worker in workers:
                worker.stop()
            run = {
                **timings,
                "items_per_s": args.rows / timings["seconds"],
                "scored_items_per_s": args.rows / timings["scored_seconds"],
                "completion_seconds": timings["seconds"] - timings["scored_seconds"],
                "pool_peak_mib": max(m[0] for m in memory),
                "main_rss_mib": max(m[1] for m in memory),
                "load": load(),
            }
            report["runs"][count] = run
            last_env = env
            print(
                f"{count} worker(s): {run['items_per_s']:.1f} items/s over the batch "
                f"({timings['seconds']:.1f} s), {run['scored_items_per_s']:.1f} items/s over the chunks, "
                f"completion {run['completion_seconds']:.1f} s; memory per worker: pool process peak "
                f"{run['pool_peak_mib']:.0f} MiB + main {run['main_rss_mib']:.0f} MiB; load {run['load']}",
                flush=True,
            )
        if len(counts) > 1:
            runs = report["runs"]
            ratio = runs[counts[-1]]["items_per_s"] / runs[counts[0]]["items_per_s"]
            scored = runs[counts[-1]]["scored_items_per_s"] / runs[counts[0]]["scored_items_per_s"]
            report["ratio"], report["scored_ratio"] = ratio, scored
            print(f"ratio {counts[-1]} : {counts[0]} workers: {ratio:.2f} over the batch, {scored:.2f} over the chunks")
        shapes = {"1 thread, 1 batch": (1, 1), "4 threads, 1 batch": (4, 1), "4 threads, 4 batches": (4, 4)}
        report["write_path"] = {name: write_path(last_env, t, args.chunk, b) for name, (t, b) in shapes.items()}
        print(
            "write path alone (chunk commits of stored results): "
            + ", ".join(f"{name} {v:.0f} items/s" for name, v in report["write_path"].items()),
            flush=True,
        )
    finally:
        servers.stop()
    report["load_after"] = load()
    print(f"load average after: {report['load_after']}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
