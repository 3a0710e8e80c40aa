"""The check of issue 17, replayed: a worker SIGKILLed mid-batch and replaced, every row stored once.

    .venv/bin/python bench/replay_kill.py [--rows 12001] [--kill-after 20] [--visibility 60]

With KESHENG_DB_URL (a throwaway PostgreSQL, scripts/postgres.sh) and KESHENG_BROKER_URL (a throwaway
Redis, scripts/redis.sh) set: `kesheng serve --no-worker` and two `kesheng worker` processes; a
survey of --rows answers (data/samples/survey.csv, repeated with ids of their own) uploaded over HTTP;
--kill-after seconds after the upload one worker is killed with SIGKILL (its whole process group: the
pool process that was analysing a chunk too) and a new worker started in its place. The batch must
complete with --rows results and --rows distinct ids, read back over HTTP (results as JSONL) and from
the database (rows, row indexes); the chunk the killed worker held must have been delivered again.
The killed worker's chunk comes back after the broker's visibility timeout: --visibility seconds here
(KESHENG_BROKER_VISIBILITY_TIMEOUT; the default is 600). Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select
from workers import ROOT, Servers, Worker, free_port, load, survey

# (importing bench/workers.py put the repository on sys.path)
from api.db import make_engine, session_factory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=12_001)
    parser.add_argument("--kill-after", type=float, default=20.0)
    parser.add_argument("--visibility", type=float, default=60.0)
    parser.add_argument("--chunk", type=int, default=32)
    args = parser.parse_args()
    print(f"load average before: {load()}", flush=True)
    servers = Servers.start()
    port = free_port()
    env = servers.environment(
        "replay", 1, args.chunk, KESHENG_BROKER_VISIBILITY_TIMEOUT=str(args.visibility), KESHENG_PORT=str(port)
    )
    folder = servers.folder
    api = None
    workers: dict[str, Worker] = {}
    try:
        with (folder / "api.log").open("wb") as out:
            api = subprocess.Popen(
                [sys.executable, "-m", "kesheng", "serve", "--no-worker", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers = {name: Worker.start(env, folder / f"{name}.log", "batches,webhooks") for name in ("a", "b")}
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or api.poll() is not None:
                raise SystemExit(f"the API did not start:\n{(folder / 'api.log').read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        key = subprocess.run(
            [sys.executable, "-m", "kesheng", "keys", "create", "--role", "analyst", "--name", "replay"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"X-API-Key": key}
        for worker in workers.values():
            worker.wait_ready()
        print("API and 2 workers ready", flush=True)

        content = survey(args.rows)
        start = time.monotonic()
        answer = httpx.post(
            f"{base}/v1/batches", files={"file": ("回访问卷.csv", content)}, headers=headers, timeout=120
        )
        answer.raise_for_status()
        batch_id = answer.json()["id"]
        print(
            f"batch {batch_id}: {answer.json()['total']} rows accepted in {time.monotonic() - start:.1f} s", flush=True
        )

        time.sleep(max(0.0, args.kill_after - (time.monotonic() - start)))
        status = httpx.get(f"{base}/v1/batches/{batch_id}", headers=headers).json()
        victim = workers["a"]
        node = f"kesheng-{victim.process.pid}@"
        victim.kill()
        killed_at = time.monotonic() - start
        print(
            f"{killed_at:.1f} s: worker a killed (SIGKILL) at {status['processed']} rows; worker c started", flush=True
        )
        workers["c"] = Worker.start(env, folder / "c.log", "batches,webhooks")

        while True:
            status = httpx.get(f"{base}/v1/batches/{batch_id}", headers=headers).json()
            if status["status"] in ("done", "failed"):
                break
            if time.monotonic() - start > 1800:
                raise SystemExit("the batch did not complete in 30 minutes")
            time.sleep(1)
        took = time.monotonic() - start
        print(
            f"{took:.1f} s: batch {status['status']} ({status['processed']}/{status['total']}) {status['error'] or ''}"
        )

        jsonl = httpx.get(
            f"{base}/v1/batches/{batch_id}/results?format=jsonl", headers=headers, timeout=300
        ).text.splitlines()
        ids = [json.loads(line)["id"] for line in jsonl if line.strip()]
        engine = make_engine(env["KESHENG_DB_URL"])
        factory = session_factory(engine)
        from api.tables import BatchChunk, Item

        with factory() as session:
            rows = session.scalar(select(func.count()).select_from(Item).where(Item.batch_id == batch_id))
            distinct = session.scalar(
                select(func.count(func.distinct(Item.row_index))).where(Item.batch_id == batch_id)
            )
            again = session.execute(
                select(BatchChunk.chunk, BatchChunk.attempts, BatchChunk.worker).where(
                    BatchChunk.batch_id == batch_id, BatchChunk.attempts > 1
                )
            ).all()
            held = session.scalar(
                select(func.count())
                .select_from(BatchChunk)
                .where(BatchChunk.batch_id == batch_id, BatchChunk.worker.like(f"{node}%"))
            )
        engine.dispose()
        checks = {
            "batch done": status["status"] == "done",
            f"{args.rows} results over HTTP": len(ids) == args.rows,
            f"{args.rows} distinct ids": len(set(ids)) == args.rows,
            f"{args.rows} rows stored, each row once": rows == distinct == args.rows,
            "the killed worker's chunk delivered again": bool(again),
        }
        print(f"results: {len(ids)} lines, {len(set(ids))} distinct ids; items: {rows} rows, {distinct} row indexes")
        print(f"chunks delivered more than once: {[(c, a) for c, a, _ in again]}; chunks last done by a: {held}")
        for name, ok in checks.items():
            print(f"  {'ok ' if ok else 'FAIL'} {name}")
        print(f"load average after: {load()}")
        return 0 if all(checks.values()) else 1
    finally:
        for worker in workers.values():
            worker.stop()
        if api is not None and api.poll() is None:
            api.terminate()
            api.wait(30)
        keep = Path(tempfile.gettempdir()) / "replay_kill_logs"
        keep.mkdir(exist_ok=True)
        for log in folder.glob("*.log"):
            (keep / log.name).write_bytes(log.read_bytes())
        servers.stop()


if __name__ == "__main__":
    sys.exit(main())
