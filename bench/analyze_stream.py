"""Peak memory and time of `kesheng analyze` as the input grows: streaming keeps memory flat.

    .venv/bin/python bench/analyze_stream.py [--rows 100000 1000000] [--source demo|reviews] [--lexicon]
        [--no-names] [--json]

For each size, writes a survey CSV of that many answers, then runs `kesheng analyze FILE --out DIR`
(read, redact, sentiment, aspects, themes, heatmap, alerts, follow-ups) in a child process and reports
its wall time, items/s, peak RSS (the child's ru_maxrss) and how many department alerts and
follow-ups it raised. Sources:

- ``demo`` (default): the 3,000 answers of data/samples/survey.csv repeated with fresh ids and dates
  over eight weeks, so texts, tiers, regions and products are real — and repeated, as in a real export
  where 好评 and 物流很快 come back thousands of times (every distinct text is scored once);
- ``reviews``: distinct real reviews of ../shared/data/sentiment (online_shopping_10_cats, waimai_10k,
  htl_all, ChnSentiCorp), 78,310 after duplicates are dropped, cycled beyond that, with the demo
  file's tiers, channels, regions and products: the cost when almost nothing repeats.

Targets: issue 12, peak under 1.5 GB whatever the size; issue 14, 100,000 answers in 8 minutes and
2 GB.
`--lexicon` / `--no-names` pass through to analyze (the transformer model and the NER model are the
defaults, as a user runs it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "survey.csv"


SHARED = ROOT.parent / "shared" / "data" / "sentiment"


def review_texts() -> list[str]:
    """Distinct review texts of the shared sentiment sets, in a fixed order."""
    texts: list[str] = []
    for name, column in (
        ("online_shopping_10_cats.csv", "review"),
        ("waimai_10k.csv", "review"),
        ("chnsenticorp/htl_all.csv", "review"),
    ):
        with (SHARED / name).open(encoding="utf-8-sig", newline="") as handle:
            texts += [r[column].replace("\ufeff", "").strip() for r in csv.DictReader(handle)]
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        with (SHARED / "chnsenticorp" / name).open(encoding="utf-8") as handle:
            texts += [line.rstrip("\n").split("\t")[-1] for line in list(handle)[1:]]
    return [t for t in dict.fromkeys(texts) if t]


def write_survey(path: Path, rows: int, source: str = "demo") -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as sample:
        reader = csv.reader(sample)
        header = next(reader)
        base = list(reader)
    texts = review_texts() if source == "reviews" else None
    start = date(2026, 9, 7)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n in range(rows):
            row = list(base[n % len(base)])
            row[0] = f"S{n:07d}"
            if texts is not None:
                row[1] = texts[n % len(texts)]
            row[6] = (start + timedelta(days=n % 56)).isoformat()
            writer.writerow(row)


def run(rows: int, folder: Path, extra: list[str], source: str = "demo") -> dict[str, Any]:
    survey = folder / f"survey_{rows}.csv"
    write_survey(survey, rows, source)
    out = folder / f"out_{rows}"
    command = [sys.executable, "-m", "kesheng", "analyze", str(survey), "--out", str(out), *extra]
    started = time.perf_counter()
    # A fresh child per size, so ru_maxrss of the children is this run's peak.
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, *command], check=True, capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.perf_counter() - started
    peak_kib = int(child.stdout.strip().splitlines()[-1])
    items = sum(1 for _ in (out / "results.jsonl").open(encoding="utf-8"))
    alerts = json.loads((out / "alerts.json").read_text(encoding="utf-8"))
    followups = json.loads((out / "followups.json").read_text(encoding="utf-8"))
    survey.unlink()
    return {"rows": rows, "source": source, "items": items, "seconds": round(seconds, 1),
            "items_per_s": round(items / seconds, 1), "peak_rss_mb": round(peak_kib / 1024, 1),
            "alerts": len(alerts), "severe_alerts": sum(1 for a in alerts if a.get("kind") == "severe"),
            "followups": len(followups)}  # fmt: skip


# Runs analyze as its own child and prints that child's peak RSS (KiB) on the last line.
_CHILD = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--source", choices=("demo", "reviews"), default="demo")
    parser.add_argument("--lexicon", action="store_true")
    parser.add_argument("--no-names", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extra = [flag for flag, on in (("--lexicon", args.lexicon), ("--no-names", args.no_names)) if on]
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    figures = []
    with tempfile.TemporaryDirectory(prefix="kesheng-stream-") as folder:
        for rows in args.rows:
            figures.append(run(rows, Path(folder), extra, args.source))
            print(json.dumps(figures[-1]) if args.json else figures[-1], flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
