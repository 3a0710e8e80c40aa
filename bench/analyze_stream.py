"""Peak memory and time of `kesheng analyze` as the input grows: streaming keeps memory flat.

    .venv/bin/python bench/analyze_stream.py [--rows 100000 1000000] [--lexicon] [--no-names] [--json]

For each size, writes a survey CSV of that many answers (the 3,000 answers of data/samples/survey.csv
repeated with fresh ids and dates over eight weeks, so texts, tiers, regions and products are real),
then runs `kesheng analyze FILE --out DIR` in a child process and reports its wall time, items/s and
peak RSS (the child's ru_maxrss). The target of issue 12: peak under 1.5 GB whatever the size.
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

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "survey.csv"


def write_survey(path: Path, rows: int) -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        base = list(reader)
    start = date(2026, 9, 7)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n in range(rows):
            row = list(base[n % len(base)])
            row[0] = f"S{n:07d}"
            row[6] = (start + timedelta(days=n % 56)).isoformat()
            writer.writerow(row)


def run(rows: int, folder: Path, extra: list[str]) -> dict[str, float]:
    survey = folder / f"survey_{rows}.csv"
    write_survey(survey, rows)
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
    survey.unlink()
    return {"rows": rows, "items": items, "seconds": round(seconds, 1), "items_per_s": round(items / seconds, 1),
            "peak_rss_mb": round(peak_kib / 1024, 1)}  # fmt: skip


# Runs analyze as its own child and prints that child's peak RSS (KiB) on the last line.
_CHILD = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lexicon", action="store_true")
    parser.add_argument("--no-names", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    extra = [flag for flag, on in (("--lexicon", args.lexicon), ("--no-names", args.no_names)) if on]
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    figures = []
    with tempfile.TemporaryDirectory(prefix="kesheng-stream-") as folder:
        for rows in args.rows:
            figures.append(run(rows, Path(folder), extra))
            print(json.dumps(figures[-1]) if args.json else figures[-1], flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
