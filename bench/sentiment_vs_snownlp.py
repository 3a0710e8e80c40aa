"""kesheng's transformer sentiment model against SnowNLP, on the same texts, in one run.

Prints the throughput (texts/s) of each and their ratio, both accuracies, and kesheng's latency
for one short text per call (median, p90, p99). See bench/README.md.

Run from the repository root: ``python bench/sentiment_vs_snownlp.py [--model models/default] [--n 2000]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.evaluate import read_labelled
from nlp.normalize import normalize
from nlp.sentiment.transformer import TransformerScorer

ROOT = Path(__file__).resolve().parent.parent
# Held-out evaluation splits written by `python -m training.pool` (never in the training pool).
POOL_FILES = ("eval_chnsenticorp_test.tsv", "eval_waimai.tsv", "eval_online_shopping.tsv")
# Without the pool: the public files (waimai_10k in full, so some texts may have been trained on).
SHARED_FILES = ("sentiment/chnsenticorp/test.tsv", "sentiment/waimai_10k.csv")
SEED = 20241123
SHORT_TEXT_CHARS = 30  # "a short text" for the latency figure: a chat turn or a one-line survey answer


@dataclass(frozen=True)
class Sample:
    texts: list[str]
    labels: list[int]
    sources: list[str]


@dataclass(frozen=True)
class Figures:
    texts: int
    mean_chars: float
    sources: list[str]
    model_version: str
    threads: int
    kesheng_load_seconds: float
    kesheng_texts_per_second: float
    kesheng_accuracy: float
    snownlp_texts_per_second: float
    snownlp_accuracy: float
    throughput_ratio: float
    latency_ms_median: float
    latency_ms_p90: float
    latency_ms_p99: float
    latency_calls: int
    # int8 activations are quantised per batch: a text alone and the same text in a batch of others
    # may differ slightly. Over the first `consistency_texts` texts of the sample:
    consistency_texts: int
    batch: int
    alone_vs_batch_max_delta: float
    alone_vs_batch_label_flips: int
    load_average_before: tuple[float, float, float]
    load_average_after: tuple[float, float, float]


def load_sample(n: int, seed: int, pool: Path, shared: Path) -> Sample:
    """A seeded sample of `n` labelled texts from the pool's eval splits, else from the shared data."""
    files = [pool / name for name in POOL_FILES]
    if not all(f.is_file() for f in files):
        files = [shared / name for name in SHARED_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"no evaluation data: {', '.join(missing)} missing; run python -m training.pool")
    rows: list[tuple[str, int]] = []
    for path in files:
        data = read_labelled(path)
        rows.extend(zip(data.texts, data.labels, strict=True))
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
    return Sample([t for t, _ in rows], [y for _, y in rows], [os.path.relpath(f, ROOT) for f in files])


def time_kesheng(scorer: TransformerScorer, texts: Sequence[str], batch: int) -> tuple[float, list[float]]:
    """Seconds to normalise and score every text, batch by batch as the pipeline does; and the results."""
    start = time.perf_counter()
    probabilities: list[float] = []
    for offset in range(0, len(texts), batch):
        chunk = [normalize(t) for t in texts[offset : offset + batch]]
        probabilities.extend(s.opinion_negative_probability for s in scorer.score(chunk))
    return time.perf_counter() - start, probabilities


def time_snownlp(texts: Sequence[str]) -> tuple[float, list[float]]:
    """Seconds for SnowNLP to score every text (its positive probability), and the results."""
    from snownlp import SnowNLP  # a benchmark-only dependency (dev extra)

    _ = SnowNLP("好").sentiments  # loads its model, outside the timing
    start = time.perf_counter()
    positive = [float(SnowNLP(t).sentiments) for t in texts]
    return time.perf_counter() - start, positive


def latency(scorer: TransformerScorer, texts: Sequence[str], calls: int) -> list[float]:
    """Milliseconds of `calls` calls of score([one short text]), cycling through `texts`."""
    scorer.score([normalize(texts[0])])  # warm-up outside the figures
    out = []
    for i in range(calls):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        scorer.score([normalize(text)])
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def alone_vs_batch(scorer: TransformerScorer, texts: Sequence[str], in_batch: Sequence[float]) -> tuple[float, int]:
    """Largest |P(negative) alone − P(negative) in its batch| and the number of labels that differ."""
    alone = [scorer.score([normalize(t)])[0].opinion_negative_probability for t in texts]
    deltas = [abs(a - b) for a, b in zip(alone, in_batch, strict=False)]
    flips = sum((a >= 0.5) != (b >= 0.5) for a, b in zip(alone, in_batch, strict=False))
    return max(deltas, default=0.0), flips


def accuracy(labels: Sequence[int], predicted_positive: Sequence[bool]) -> float:
    return float(np.mean([(y == 1) == p for y, p in zip(labels, predicted_positive, strict=True)]))


def run(args: argparse.Namespace) -> Figures:
    sample = load_sample(args.n, args.seed, ROOT / "runs" / "pool", (ROOT / ".." / "shared" / "data").resolve())
    load_before = os.getloadavg()
    start = time.perf_counter()
    scorer = TransformerScorer.load(args.model, threads=args.threads)
    load_seconds = time.perf_counter() - start
    kesheng_seconds, p_negative = time_kesheng(scorer, sample.texts, args.batch)
    snownlp_seconds, p_positive = time_snownlp(sample.texts)
    short = [t for t in sample.texts if len(t) <= SHORT_TEXT_CHARS] or ["快递太慢了，等了一个星期还没到"]
    millis = latency(scorer, short, args.calls)
    checked = sample.texts[: args.consistency]
    max_delta, flips = alone_vs_batch(scorer, checked, p_negative)
    quantiles = np.percentile(millis, [90, 99])
    n = len(sample.texts)
    return Figures(
        texts=n,
        mean_chars=round(statistics.fmean(len(t) for t in sample.texts), 1),
        sources=sample.sources,
        model_version=scorer.version,
        threads=scorer.inference.threads,
        kesheng_load_seconds=round(load_seconds, 2),
        kesheng_texts_per_second=round(n / kesheng_seconds, 1),
        kesheng_accuracy=round(accuracy(sample.labels, [p < 0.5 for p in p_negative]), 4),
        snownlp_texts_per_second=round(n / snownlp_seconds, 1),
        snownlp_accuracy=round(accuracy(sample.labels, [p >= 0.5 for p in p_positive]), 4),
        throughput_ratio=round(snownlp_seconds / kesheng_seconds, 2),
        latency_ms_median=round(statistics.median(millis), 2),
        latency_ms_p90=round(float(quantiles[0]), 2),
        latency_ms_p99=round(float(quantiles[1]), 2),
        latency_calls=args.calls,
        consistency_texts=len(checked),
        batch=args.batch,
        alone_vs_batch_max_delta=round(max_delta, 4),
        alone_vs_batch_label_flips=flips,
        load_average_before=load_before,
        load_average_after=os.getloadavg(),
    )


def render(f: Figures) -> str:
    return "\n".join(
        [
            f"texts: {f.texts} (mean {f.mean_chars} chars) from {', '.join(f.sources)}",
            f"model: {f.model_version}, {f.threads} threads, loaded in {f.kesheng_load_seconds} s",
            "",
            f"{'':10} {'texts/s':>9} {'accuracy':>9}",
            f"{'kesheng':10} {f.kesheng_texts_per_second:>9.1f} {f.kesheng_accuracy:>9.2%}",
            f"{'snownlp':10} {f.snownlp_texts_per_second:>9.1f} {f.snownlp_accuracy:>9.2%}",
            f"throughput ratio kesheng / snownlp: {f.throughput_ratio:.2f}x",
            "",
            f"kesheng, one short text (≤ {SHORT_TEXT_CHARS} chars) per call, {f.latency_calls} calls: "
            f"median {f.latency_ms_median:.2f} ms, p90 {f.latency_ms_p90:.2f} ms, "
            f"p99 {f.latency_ms_p99:.2f} ms",
            f"alone vs in calls of {f.batch} texts, {f.consistency_texts} texts: max |Δp| "
            f"{f.alone_vs_batch_max_delta:.4f}, {f.alone_vs_batch_label_flips} labels differ",
            "load average (1, 5, 15 min) before {} after {}".format(
                *(", ".join(f"{x:.2f}" for x in avg) for avg in (f.load_average_before, f.load_average_after))
            ),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="kesheng's sentiment model against SnowNLP on the same texts.")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default", help="model folder")
    parser.add_argument("--n", type=int, default=2000, help="number of texts")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the sample")
    parser.add_argument("--batch", type=int, default=256, help="texts per scorer call in the throughput run")
    parser.add_argument("--calls", type=int, default=200, help="single-text calls for the latency figures")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default 2)")
    parser.add_argument("--consistency", type=int, default=300, help="texts scored alone to compare")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(args)
    print(json.dumps(asdict(figures), indent=2) if args.json else render(figures))


if __name__ == "__main__":
    main()
