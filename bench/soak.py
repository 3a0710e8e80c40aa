"""A soak of `kesheng serve` on 127.0.0.1: --minutes (default 10) of mixed load, then errors by status,
p50/p99 latency per kind of request, and the server's memory at the start and the end.

It starts its own service: a fresh temporary data directory, an admin key made with `kesheng keys
create`, the default model, person-name redaction on and the in-process batch worker. After a warm-up
(100 real-time requests, then a batch of --warmup-rows answers (default 2,000, dated the quarter
before) analysed under the real-time load of the soak, heatmap and trend reads: every path has run at
full size, alone and side by side, and allocated what it keeps)
it notes the server's resident memory (RSS, /proc), then for --minutes runs at once:

- real-time scoring: --concurrency client tasks (default 8) sending POST /v1/sentiment back to back,
  real Chinese texts from data/samples/survey.csv (and ../shared/data/sentiment/waimai_10k.csv when
  present): mostly one text, some with four, some a whole call from data/samples/calls.jsonl;
- two batch uploads (POST /v1/batches): data/samples/survey.csv (3,000 answers) at 10 % of the run and
  a generated CSV (--rows, default 4,000 answers from the same texts, other ids and weeks) at 50 %,
  each followed until it is done (GET /v1/batches/{id} every second);
- heatmap reads: GET /v1/heatmap (tier, product, channel in turn) and GET /v1/trend, one every
  --read-pause seconds (default 0.5).

Real-time requests and reads stop after --minutes; the run then waits for the batches to finish,
notes RSS again and prints the report (--json: as JSON).
Exit status 1 when RSS grew by more than --max-growth percent (default 10), when any answer was a 5xx
or a batch failed; 0 otherwise. The client shares the machine with the server: on a small machine
latency figures are an upper bound.

Run from the repository root: ``.venv/bin/python bench/soak.py [--minutes 10] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SURVEY = ROOT / "data" / "samples" / "survey.csv"
CALLS = ROOT / "data" / "samples" / "calls.jsonl"
WAIMAI = ROOT.parent / "shared" / "data" / "sentiment" / "waimai_10k.csv"
DIMENSIONS = ("tier", "product", "channel")
MAX_TEXT = 2000  # api.schemas.MAX_TEXT_CHARS


def _texts() -> list[str]:
    """Real customer texts: the survey sample's answers, and the waimai reviews when there."""
    with SURVEY.open(encoding="utf-8-sig", newline="") as handle:
        texts = [row["回答"] for row in csv.DictReader(handle) if row["回答"].strip()]
    if WAIMAI.is_file():
        with WAIMAI.open(encoding="utf-8-sig", newline="") as handle:
            texts += [row["review"] for row in csv.DictReader(handle) if row.get("review", "").strip()]
    return [t[:MAX_TEXT] for t in texts]


def _calls() -> list[dict[str, Any]]:
    calls = []
    for line in CALLS.read_text(encoding="utf-8").splitlines():
        call = json.loads(line)
        turns = [{"speaker": t["speaker"], "text": t["text"][:MAX_TEXT]} for t in call["turns"] if t["text"].strip()]
        if turns:
            calls.append({"id": call["id"], "turns": turns[:200]})
    return calls


def generated_survey(rows: int, seed: int = 20261204, weeks: int = 5) -> bytes:
    """`rows` survey answers in survey.csv's columns: its answers and segments, new ids, `weeks` later."""
    with SURVEY.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        source = [row for row in reader if row]
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for n in range(rows):
        row = list(rng.choice(source))
        row[0] = f"G{n + 1:05d}"
        row[6] = (date.fromisoformat(row[6]) + timedelta(weeks=weeks)).isoformat()
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


@dataclass
class Tally:
    """Answers by kind of request: their times (seconds) and statuses ("transport" for no answer)."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    server_errors: list[str] = field(default_factory=list)

    async def send(self, kind: str, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as error:
            self.statuses[kind][f"transport ({type(error).__name__})"] += 1
            return None
        self.times[kind].append(time.perf_counter() - start)
        self.statuses[kind][str(response.status_code)] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{kind} {method} {url}: {response.status_code} {response.text[:300]}")
        return response

    def report(self) -> dict[str, Any]:
        return {
            kind: {
                "requests": sum(self.statuses[kind].values()),
                "statuses": dict(sorted(self.statuses[kind].items())),
                "p50_ms": round(_percentile(self.times[kind], 0.50) * 1000, 1),
                "p99_ms": round(_percentile(self.times[kind], 0.99) * 1000, 1),
            }
            for kind in sorted(self.statuses)
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_service(data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """`kesheng serve` on a free port of 127.0.0.1 with an admin key; (process, url, key, its log)."""
    kesheng = [sys.executable, "-m", "kesheng"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    key = subprocess.run(
        [*kesheng, "keys", "create", "--role", "admin", "--name", "soak", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()[-1]
    port = _free_port()
    log = data_dir / "serve.log"
    process = subprocess.Popen(
        [*kesheng, "serve", "--port", str(port), "--data-dir", str(data_dir), "--no-access-log", *extra],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, key, log
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the service was not ready after 300 s")


class Soak:
    def __init__(self, url: str, key: str, args: argparse.Namespace) -> None:
        self.url, self.key, self.args = url, key, args
        self.tally = Tally()
        self.texts, self.calls = _texts(), _calls()
        self.rng = random.Random(args.seed)
        self.batches: dict[str, dict[str, Any]] = {}

    def _sentiment_body(self) -> dict[str, Any]:
        roll = self.rng.random()
        if roll < 0.1:
            return self.rng.choice(self.calls)
        return {"texts": self.rng.sample(self.texts, 4 if roll < 0.2 else 1)}

    async def realtime(self, client: httpx.AsyncClient, until: float) -> None:
        while time.monotonic() < until:
            await self.tally.send("sentiment", client, "POST", "/v1/sentiment", json=self._sentiment_body())

    async def reads(self, client: httpx.AsyncClient, until: float) -> None:
        n = 0
        while time.monotonic() < until:
            if n % 4 == 3:
                await self.tally.send("trend", client, "GET", "/v1/trend")
            else:
                params = {"dimension": DIMENSIONS[n % len(DIMENSIONS)]}
                await self.tally.send("heatmap", client, "GET", "/v1/heatmap", params=params)
            n += 1
            await asyncio.sleep(self.args.read_pause)

    async def upload(self, client: httpx.AsyncClient, name: str, content: bytes, at: float) -> None:
        """Upload `content` at monotonic time `at` and follow its batch until it is done or failed."""
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        files = {"file": (name, content, "text/csv")}
        response = await self.tally.send("upload", client, "POST", "/v1/batches", files=files)
        record: dict[str, Any] = {"rows": content.count(b"\n") - 1, "status": "refused"}
        self.batches[name] = record
        if response is None or response.status_code not in (200, 202):
            return
        batch_id, started = response.json()["id"], time.monotonic()
        record.update(id=batch_id, status="queued")
        while record["status"] not in ("done", "failed"):
            await asyncio.sleep(1.0)
            status = await self.tally.send("batch status", client, "GET", f"/v1/batches/{batch_id}")
            if status is not None and status.status_code == 200:
                record["status"] = status.json()["status"]
        record["seconds"] = round(time.monotonic() - started, 1)

    async def warm_up(self, client: httpx.AsyncClient) -> None:
        """Every path once, so that what it allocates for good is in the starting RSS."""
        warm = Tally()
        for _ in range(100):
            await warm.send("sentiment", client, "POST", "/v1/sentiment", json=self._sentiment_body())
        # As big as the soak's batches, of the quarter before: the first large batch sets the high-water
        # mark of the analysis (its start RSS is that of a service that has analysed one already).
        earlier = generated_survey(self.args.warmup_rows, seed=1, weeks=-12)
        response = await warm.send("upload", client, "POST", "/v1/batches", files={"file": ("warm.csv", earlier)})
        if response is None or response.status_code != 202:
            raise SystemExit(f"warm-up upload refused: {response and response.text}")
        batch_id = response.json()["id"]
        done = asyncio.Event()

        async def follow() -> None:
            while (await client.get(f"/v1/batches/{batch_id}")).json()["status"] not in ("done", "failed"):
                await asyncio.sleep(0.5)
            done.set()

        async def realtime() -> None:  # the soak's mix: the model serves both paths at once
            while not done.is_set():
                await warm.send("sentiment", client, "POST", "/v1/sentiment", json=self._sentiment_body())

        await asyncio.gather(follow(), *(realtime() for _ in range(self.args.concurrency)))
        for dimension in DIMENSIONS:
            await warm.send("heatmap", client, "GET", "/v1/heatmap", params={"dimension": dimension})
        await warm.send("trend", client, "GET", "/v1/trend")
        if warm.server_errors:
            raise SystemExit("warm-up: " + "; ".join(warm.server_errors))

    async def run(self, pid: int) -> dict[str, Any]:
        limits = httpx.Limits(max_connections=self.args.concurrency + 4)
        headers = {"X-API-Key": self.key}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, limits=limits, timeout=120) as client:
            await self.warm_up(client)
            rss_start = rss_bytes(pid)
            start = time.monotonic()
            until = start + self.args.minutes * 60
            samples: list[tuple[float, int]] = [(0.0, rss_start)]

            async def sample_rss() -> None:
                while True:
                    await asyncio.sleep(30)
                    samples.append((round(time.monotonic() - start), rss_bytes(pid)))

            span = until - start
            sampler = asyncio.create_task(sample_rss())
            await asyncio.gather(
                *(self.realtime(client, until) for _ in range(self.args.concurrency)),
                self.reads(client, until),
                self.upload(client, "survey.csv", SURVEY.read_bytes(), start + 0.1 * span),
                self.upload(client, "generated.csv", generated_survey(self.args.rows), start + 0.5 * span),
            )
            sampler.cancel()
            load_seconds = until - start
            elapsed = time.monotonic() - start
            await asyncio.sleep(2)  # answers in flight written out
            rss_end = rss_bytes(pid)
        growth = (rss_end - rss_start) / rss_start * 100
        return {
            "minutes": round(load_seconds / 60, 2),
            "minutes_with_batches": round(elapsed / 60, 2),
            "concurrency": self.args.concurrency,
            "requests": self.tally.report(),
            "sentiment_per_s": round(len(self.tally.times["sentiment"]) / load_seconds, 1),
            "batches": self.batches,
            "rss_start_mb": round(rss_start / 2**20, 1),
            "rss_end_mb": round(rss_end / 2**20, 1),
            "rss_max_mb": round(max(rss_end, *(r for _, r in samples)) / 2**20, 1),
            "rss_growth_percent": round(growth, 1),
            "rss_samples_mb": [(t, round(r / 2**20, 1)) for t, r in samples],
            "server_errors": self.tally.server_errors[:20],
        }


def _print(report: dict[str, Any], load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    print(
        f"soak: {report['minutes']} min of load, real-time concurrency {report['concurrency']}; "
        f"{report['minutes_with_batches']} min until the batches were done"
    )
    print(f"load average before {load[0]}, after {load[1]}")
    print(f"{'kind':<14}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}  statuses")
    for kind, row in report["requests"].items():
        statuses = ", ".join(f"{s}: {n}" for s, n in row["statuses"].items())
        print(f"{kind:<14}{row['requests']:>10}{row['p50_ms']:>10}{row['p99_ms']:>10}  {statuses}")
    print(f"real-time requests per second: {report['sentiment_per_s']}")
    for name, batch in report["batches"].items():
        print(f"batch {name}: {batch}")
    print(
        f"server RSS: {report['rss_start_mb']} MB after warm-up, {report['rss_end_mb']} MB at the end "
        f"({report['rss_growth_percent']:+} %), at most {report['rss_max_mb']} MB"
    )
    print("RSS every 30 s (s, MB): " + " ".join(f"{t}:{mb}" for t, mb in report["rss_samples_mb"]))
    for error in report["server_errors"]:
        print(f"5xx: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8, help="real-time client tasks")
    parser.add_argument("--rows", type=int, default=4000, help="answers of the generated upload")
    parser.add_argument("--warmup-rows", type=int, default=2000, help="answers of the warm-up batch")
    parser.add_argument("--read-pause", type=float, default=0.5, help="seconds between heatmap reads")
    parser.add_argument("--max-growth", type=float, default=10.0, help="RSS growth allowed, percent")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--serve-option", action="append", default=[], help="extra `kesheng serve` option")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (printed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="kesheng-soak-"))
    load_before = os.getloadavg()
    process, url, key, log = start_service(data_dir, args.serve_option)
    try:
        report = asyncio.run(Soak(url, key, args).run(process.pid))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    load = (tuple(round(x, 2) for x in load_before), tuple(round(x, 2) for x in os.getloadavg()))
    failed = [name for name, batch in report["batches"].items() if batch["status"] != "done"]
    verdict = []
    if report["rss_growth_percent"] > args.max_growth:
        verdict.append(f"RSS grew {report['rss_growth_percent']} % (> {args.max_growth} %)")
    if report["server_errors"]:
        verdict.append(f"{len(report['server_errors'])} answers with a 5xx (server log: {log})")
    if failed:
        verdict.append(f"batches not done: {', '.join(failed)}")
    report["load_average"] = {"before": load[0], "after": load[1]}
    report["verdict"] = "; ".join(verdict) or "ok"
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print(report, load)
        print(f"verdict: {report['verdict']}")
    if args.keep or verdict:
        print(f"data directory kept: {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 1 if verdict else 0


if __name__ == "__main__":
    raise SystemExit(main())
