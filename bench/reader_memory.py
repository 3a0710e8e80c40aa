"""Peak memory of reading one large survey export: streamed (nlp.readers.iter_path) against read
whole (nlp.readers.read_path), on the same file (target for the stream: well under 300 MB for
1,000,000 answers, so that streaming analysis stays under 1.5 GB whatever the input size).

The file: ``--rows`` survey answers (default 1,000,000) in a CSV with the columns of a usual
export — 编号,回答,客户等级,渠道,区域,产品,日期,NPS — drawn with ``--seed`` from Chinese answer
fragments (8 to 60 characters), written in each of ``--encodings`` (default GBK and UTF-8) to a
temporary folder (``--keep DIR`` writes there and leaves the files).

Each reading runs in its own fresh interpreter, so that peaks do not mix: the stream counts the
items as they come (keeping none), read_path returns them all in a list. Printed per reading: the
seconds, the items and problems, the peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and
the RSS of the same interpreter after its imports, before reading (the reader's share is the
difference). The load average is printed before and after, as a busy machine slows everything.

Run from the repository root: ``.venv/bin/python bench/reader_memory.py [--rows 1000000] [--json]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADERS = ["编号", "回答", "客户等级", "渠道", "区域", "产品", "日期", "NPS"]
OPENINGS = ["", "", "说实话，", "这次", "总的来说", "上次反映过，", "师傅上门后", "客服回访时我说了，"]
SUBJECTS = ["快递", "物流", "安装师傅", "客服", "退款", "售后", "滤芯", "空调", "净水器", "包装", "发票", "配送员"]
VERDICTS = [
    "三天还没到",
    "一直不到账",
    "态度很好，很专业",
    "太慢了，打了好几次电话都没人接",
    "漏水，换了两次还是不行",
    "不制冷，夏天根本没法用",
    "服务周到，下次还会买",
    "价格太贵了，和宣传的不一样",
    "包装破损，里面的东西也坏了",
    "回复很及时，问题当天就解决了",
]
ENDINGS = ["", "。", "！", "，希望改进。", "，很失望。", "，点赞。", "，建议加强培训。"]
TIERS = ["金卡", "银卡", "钻石会员", "普通会员"]
CHANNELS = ["电话回访", "APP", "微信", "门店", "官网"]
REGIONS = ["华东", "华南", "华北", "华中", "西南", "西北", "东北"]
PRODUCTS = ["净水器", "空调", "空气净化器", "热水器", "洗衣机"]


def _answer(draw: random.Random) -> str:
    parts = [draw.choice(OPENINGS), draw.choice(SUBJECTS), draw.choice(VERDICTS), draw.choice(ENDINGS)]
    if draw.random() < 0.3:
        parts += [draw.choice(SUBJECTS), draw.choice(VERDICTS), draw.choice(ENDINGS)]
    return "".join(parts)


def write_survey(path: Path, rows: int, encoding: str, seed: int) -> None:
    """A survey export of `rows` answers in `encoding` (the same rows for the same seed)."""
    draw = random.Random(seed)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for number in range(1, rows + 1):
            writer.writerow(
                [
                    f"Q{number:07d}",
                    _answer(draw),
                    draw.choice(TIERS),
                    draw.choice(CHANNELS),
                    draw.choice(REGIONS),
                    draw.choice(PRODUCTS),
                    f"2026-{draw.randint(1, 12):02d}-{draw.randint(1, 28):02d}",
                    draw.randint(0, 10),
                ]
            )


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def child(mode: str, path: str) -> dict[str, Any]:
    """One reading, in this (fresh) interpreter."""
    from nlp.readers import iter_path, read_path

    before = _rss_mb()
    start = time.perf_counter()
    if mode == "stream":
        stream = iter_path(path)
        items = problems = 0
        for items, _ in enumerate(stream, start=1):  # noqa: B007 - the count is the point
            problems += len(stream.take_problems())
        problems += len(stream.take_problems())
        report = stream.report
    else:
        outcome = read_path(path)
        items, problems, report = len(outcome.items), len(outcome.problems), outcome.report
    seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "encoding": report["encoding"],
        "items": items,
        "problems": problems,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(_rss_mb()),
        "rss_before_mb": round(before),
    }


def _run_child(mode: str, path: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--encodings", nargs="+", default=["gbk", "utf-8"])
    parser.add_argument("--seed", type=int, default=20261102)
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(Path(__file__).parent.parent))
        print(json.dumps(child(*args.child)))
        return

    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for encoding in args.encodings:
            path = folder / f"survey_{args.rows}_{encoding}.csv"
            start = time.perf_counter()
            write_survey(path, args.rows, encoding, args.seed)
            size_mb = path.stat().st_size / 2**20
            print(f"{path.name}: {size_mb:.0f} MB written in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            for mode in ("stream", "list"):
                result = {"file": path.name, "size_mb": round(size_mb), **_run_child(mode, path)}
                results.append(result)
                if not args.json:
                    print(
                        f"{path.name:<28} {mode:<6} {result['encoding']:<8} items {result['items']:>9,} "
                        f"problems {result['problems']:>6,}  {result['seconds']:>6.1f} s  "
                        f"peak RSS {result['peak_rss_mb']:>6,} MB (after imports {result['rss_before_mb']} MB)"
                    )
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
