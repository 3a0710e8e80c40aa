"""Latency and throughput of POST /v1/sentiment (one short Chinese text per request) at concurrency
1, 8 and 32, against `kesheng serve` on 127.0.0.1 (target at concurrency 1: p50 ≤ 15 ms, p99 ≤ 40 ms).

By default it starts its own service (default model, person-name redaction on, a temporary data
directory and a service key) and stops it afterwards; ``--url URL --key KEY`` measures a running one.
For each concurrency level, ``--requests`` requests (default 300 × level, at least 300) are sent by
that many client tasks (httpx.AsyncClient, keep-alive) after ``--warmup`` unmeasured ones; each
request's time is taken from send to parsed answer. Texts cycle through short customer sentences, each
made unique by a counter so that no cache can answer. Printed: p50, p90, p99 (ms), requests/s, and
the mean texts per model call (from /metrics: how much micro-batching happened), plus the load
average before and after.

Run from the repository root: ``.venv/bin/python bench/api_latency.py [--levels 1 8 32] [--json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

TEXTS = (
    "快递太慢了，三天还没到",
    "客服态度很好，问题解决了",
    "退款一直不到账，很失望",
    "质量不错，下次还会买",
    "安装师傅迟到了两个小时",
    "包装破了，东西也摔坏了",
    "价格实惠，物流也快",
    "打了好几次电话都没人接",
)


@dataclass(frozen=True)
class Level:
    concurrency: int
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests_per_s: float
    texts_per_model_call: float


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _level(url: str, key: str, concurrency: int, requests: int, warmup: int) -> Level:
    counter = iter(range(10**9))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:

        async def one() -> float:
            n = next(counter)
            body = {"texts": [f"{TEXTS[n % len(TEXTS)]}（{n}）"]}
            start = time.perf_counter()
            response = await client.post("/v1/sentiment", json=body)
            response.raise_for_status()
            response.json()
            return time.perf_counter() - start

        async def worker(count: int, out: list[float]) -> None:
            for _ in range(count):
                out.append(await one())

        await asyncio.gather(*(worker(max(1, warmup // concurrency), []) for _ in range(concurrency)))
        before = (await client.get("/metrics")).text
        times: list[float] = []
        start = time.perf_counter()
        per_task = max(1, requests // concurrency)
        await asyncio.gather(*(worker(per_task, times) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        after = (await client.get("/metrics")).text
    calls = _metric(after, "kesheng_realtime_batch_items_count") - _metric(before, "kesheng_realtime_batch_items_count")
    texts = _metric(after, "kesheng_realtime_batch_items_sum") - _metric(before, "kesheng_realtime_batch_items_sum")
    return Level(
        concurrency=concurrency,
        requests=len(times),
        p50_ms=round(_percentile(times, 0.50) * 1000, 2),
        p90_ms=round(_percentile(times, 0.90) * 1000, 2),
        p99_ms=round(_percentile(times, 0.99) * 1000, 2),
        requests_per_s=round(len(times) / elapsed, 1),
        texts_per_model_call=round(texts / calls, 2) if calls else 0.0,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_service(data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str, str]:
    kesheng = [sys.executable, "-m", "kesheng"]
    key = subprocess.run(
        [*kesheng, "keys", "create", "--role", "service", "--name", "bench", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KESHENG_WORKER": "false"}
    process = subprocess.Popen(
        [*kesheng, "serve", "--port", str(port), "--data-dir", str(data_dir), "--no-access-log", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, key
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not become ready in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service (default: start one)")
    parser.add_argument("--key", help="a service key for --url")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=0, help="per level (default max(300, 300 x level / 4))")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--serve-option", action="append", default=[], help="extra `kesheng serve` option")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()
    process = None
    with tempfile.TemporaryDirectory(prefix="kesheng-bench-") as tmp:
        if args.url:
            if not args.key:
                parser.error("--url needs --key")
            url, key = args.url, args.key
        else:
            process, url, key = _start_service(Path(tmp), args.serve_option)
        try:
            info = httpx.get(f"{url}/readyz", timeout=5).json()
            levels = [
                asyncio.run(_level(url, key, c, args.requests or max(300, 75 * c), args.warmup)) for c in args.levels
            ]
        finally:
            if process is not None:
                process.terminate()
                process.wait(30)
    load_after = os.getloadavg()
    report: dict[str, Any] = {
        "model_version": info.get("model_version"),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "levels": [asdict(level) for level in levels],
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return
    print(f"POST /v1/sentiment, one short text per request, model {report['model_version']}, {report['cpus']} CPUs")
    print(f"load average before {report['load_before']}, after {report['load_after']}")
    print(
        f"{'concurrency':>11} {'requests':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'req/s':>8} {'texts/call':>10}"
    )
    for level in levels:
        print(
            f"{level.concurrency:>11} {level.requests:>8} {level.p50_ms:>8.2f} {level.p90_ms:>8.2f} "
            f"{level.p99_ms:>8.2f} {level.requests_per_s:>8.1f} {level.texts_per_model_call:>10.2f}"
        )


if __name__ == "__main__":
    main()
