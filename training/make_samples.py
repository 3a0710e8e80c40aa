"""Build the bundled demo sample in ``data/samples`` from the public data sets in ``../shared/data``.

Three files come out, all deterministic for a given seed (running twice gives byte-identical files):

* ``calls.jsonl`` — real JD customer-service chats (JDDC sample) as canonical transcript JSONL;
* ``calls.txt`` — further, different chats in the plain-text transcript format, with every marker
  variant the spec names (speaker labels, ``[hh:mm:ss]`` timestamps, ``#`` headers, both separators);
* ``survey.csv`` — open survey answers drawn from review corpora, with segment metadata, dates, an
  NPS score correlated with the (unpublished) review label, and one planted negative hot spot.

Rebuild: ``.venv/bin/python -m training.make_samples --shared ../shared/data --out data/samples``.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from training.sample_calls import load_chats, select_calls, write_calls_jsonl, write_calls_txt
from training.sample_config import WHITESPACE, SampleConfig, Weights, random_day, weighted_choice

# Source category of online_shopping_10_cats → product line shown in the survey.
SURVEY_PRODUCTS: dict[str, str] = {
    "书籍": "图书",
    "平板": "平板",
    "手机": "手机",
    "水果": "水果",
    "洗发水": "洗发水",
    "热水器": "热水器",
    "蒙牛": "蒙牛",
    "衣服": "衣服",
    "计算机": "电脑",
    "酒店": "酒店",
}
WAIMAI_PRODUCT = "外卖"
SURVEY_HEADER = ("编号", "回答", "客户等级", "渠道", "区域", "产品线", "日期", "NPS评分")


@dataclass(frozen=True)
class Review:
    """A labelled source review; the label never reaches the CSV."""

    product: str
    positive: bool
    text: str


@dataclass(frozen=True)
class SurveyAnswer:
    """One survey row plus the source label and planted-cell flag kept for checks."""

    answer_id: str
    text: str
    tier: str
    channel: str
    region: str
    product: str
    day: date
    nps: int
    positive: bool
    planted: bool


@dataclass(frozen=True)
class SampleSummary:
    """Counts and the planted pattern's figures, printed by the CLI and quoted in the README."""

    n_calls: int
    n_txt_calls: int
    n_answers: int
    planted_count: int
    planted_negative_share: float
    rest_of_product_count: int
    rest_of_product_negative_share: float


def clean_review(text: str) -> str:
    """Strip BOMs and collapse whitespace (including newlines) of a source review."""
    return WHITESPACE.sub(" ", text.replace("\ufeff", "")).strip()


def load_reviews(shared: Path, cfg: SampleConfig) -> list[Review]:
    """Labelled reviews from online_shopping_10_cats and waimai_10k: cleaned, deduplicated, not too long."""
    sources = [
        (shared / "sentiment" / "online_shopping_10_cats.csv", None),
        (shared / "sentiment" / "waimai_10k.csv", WAIMAI_PRODUCT),
    ]
    reviews: list[Review] = []
    seen: set[str] = set()
    for path, fixed_product in sources:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row_no, row in enumerate(csv.DictReader(handle), start=2):
                text = clean_review(row.get("review") or "")
                if not text or len(text) > cfg.max_review_chars or text in seen:
                    continue
                category = clean_review(row.get("cat") or "")
                product = fixed_product or SURVEY_PRODUCTS.get(category)
                if product is None:
                    raise ValueError(f"{path}:{row_no}: field cat: unknown category {category!r}")
                if row.get("label") not in ("0", "1"):
                    raise ValueError(f"{path}:{row_no}: field label: expected 0 or 1, got {row.get('label')!r}")
                seen.add(text)
                reviews.append(Review(product, row["label"] == "1", text))
    return reviews


def review_pools(reviews: Sequence[Review], rng: random.Random) -> dict[tuple[str, bool], list[Review]]:
    """Shuffled pools per (product, positive) to draw from without replacement."""
    pools: dict[tuple[str, bool], list[Review]] = {}
    for review in reviews:
        pools.setdefault((review.product, review.positive), []).append(review)
    for key in sorted(pools):
        rng.shuffle(pools[key])
    return pools


def draw_nps(rng: random.Random, positive: bool, cfg: SampleConfig) -> int:
    """An NPS score correlated with the review label, with some noise."""
    if rng.random() < cfg.nps_noise:
        return rng.randint(0, 10)
    if positive:
        if rng.random() < cfg.positive_top_share:
            return int(weighted_choice(rng, cfg.nps_positive_top))
        return rng.choice((6, 7))
    if rng.random() < cfg.negative_low_share:
        return int(weighted_choice(rng, cfg.nps_negative_low))
    return 6


def is_planted_cell(product: str, region: str, day: date, cfg: SampleConfig) -> bool:
    """Whether an answer falls in the planted hot spot (product × region × last weeks)."""
    planted_start = cfg.first_day + timedelta(days=cfg.n_days - cfg.planted_days)
    return product == cfg.planted_product and region == cfg.planted_region and day >= planted_start


def build_survey(reviews: Sequence[Review], n_answers: int, cfg: SampleConfig) -> list[SurveyAnswer]:
    """Draw ``n_answers`` survey answers with metadata, NPS and the planted negative hot spot."""
    rng = random.Random(f"{cfg.seed}:survey")
    pools = review_pools(reviews, rng)
    shop_sizes = Counter(r.product for r in reviews if r.product != WAIMAI_PRODUCT)
    # Square-root weights keep small categories (热水器: under 100 negative reviews) present but not drained.
    shop_total = sum(math.sqrt(n) for n in shop_sizes.values())
    product_weights: Weights = (
        (WAIMAI_PRODUCT, cfg.waimai_share),
        *((p, (1 - cfg.waimai_share) * math.sqrt(shop_sizes[p]) / shop_total) for p in sorted(shop_sizes)),
    )
    n_planted = round(n_answers * cfg.planted_extra_share)
    drafts: list[tuple[date, int, SurveyAnswer]] = []
    for index in range(n_answers):
        if index < n_planted:
            product, region = cfg.planted_product, cfg.planted_region
            day = random_day(rng, cfg, last_days=cfg.planted_days)
        else:
            product, region = weighted_choice(rng, product_weights), weighted_choice(rng, cfg.regions)
            day = random_day(rng, cfg)
        planted = is_planted_cell(product, region, day, cfg)
        negative_share = cfg.planted_negative_share if planted else cfg.base_negative_share
        positive = rng.random() >= negative_share
        pool = pools.get((product, positive), [])
        if not pool:
            raise ValueError(f"no {'positive' if positive else 'negative'} reviews left for product {product}")
        review = pool.pop()
        answer = SurveyAnswer(
            answer_id="",
            text=review.text,
            tier=weighted_choice(rng, cfg.tiers),
            channel=weighted_choice(rng, cfg.survey_channels),
            region=region,
            product=product,
            day=day,
            nps=draw_nps(rng, positive, cfg),
            positive=positive,
            planted=planted,
        )
        drafts.append((day, index, answer))
    drafts.sort(key=lambda d: (d[0], d[1]))
    width = len(str(n_answers))
    return [replace(a, answer_id=f"Q{n:0{width}d}") for n, (_, _, a) in enumerate(drafts, start=1)]


def write_survey_csv(answers: Sequence[SurveyAnswer], path: Path) -> None:
    """Write the survey export (UTF-8, Chinese header, no labels)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SURVEY_HEADER)
        for a in answers:
            writer.writerow([a.answer_id, a.text, a.tier, a.channel, a.region, a.product, a.day.isoformat(), a.nps])


def negative_share(answers: Sequence[SurveyAnswer]) -> float:
    """Share of answers drawn from negative reviews (0 for no answers)."""
    return sum(not a.positive for a in answers) / len(answers) if answers else 0.0


# ---------------------------------------------------------------- driver


def make_samples(
    shared: Path,
    out: Path,
    cfg: SampleConfig | None = None,
    *,
    n_calls: int | None = None,
    n_txt_calls: int | None = None,
    n_answers: int | None = None,
) -> SampleSummary:
    """Build all three sample files into ``out``; the ``n_*`` arguments override the config sizes."""
    cfg = cfg or SampleConfig()
    n_calls = cfg.n_calls if n_calls is None else n_calls
    n_txt_calls = cfg.n_txt_calls if n_txt_calls is None else n_txt_calls
    n_answers = cfg.n_answers if n_answers is None else n_answers
    out.mkdir(parents=True, exist_ok=True)

    sessions = load_chats(shared / "transcripts" / "jddc_chat_sample.tsv")
    jsonl_calls, txt_calls = select_calls(sessions, n_calls, n_txt_calls, cfg)
    write_calls_jsonl(jsonl_calls, out / "calls.jsonl")
    write_calls_txt(txt_calls, out / "calls.txt", cfg)

    answers = build_survey(load_reviews(shared, cfg), n_answers, cfg)
    write_survey_csv(answers, out / "survey.csv")
    planted = [a for a in answers if a.planted]
    rest = [a for a in answers if a.product == cfg.planted_product and not a.planted]
    return SampleSummary(
        n_calls=len(jsonl_calls),
        n_txt_calls=len(txt_calls),
        n_answers=len(answers),
        planted_count=len(planted),
        planted_negative_share=negative_share(planted),
        rest_of_product_count=len(rest),
        rest_of_product_negative_share=negative_share(rest),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the sample files and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="public data folder")
    parser.add_argument("--out", type=Path, default=Path("data/samples"), help="output folder")
    parser.add_argument("--seed", type=int, default=SampleConfig.seed, help="random seed")
    args = parser.parse_args(argv)
    summary = make_samples(args.shared, args.out, SampleConfig(seed=args.seed))
    print(
        f"calls.jsonl: {summary.n_calls} calls; calls.txt: {summary.n_txt_calls} calls; "
        f"survey.csv: {summary.n_answers} answers"
    )
    print(
        f"planted cell: {summary.planted_count} answers, {summary.planted_negative_share:.1%} negative; "
        f"rest of the product: {summary.rest_of_product_count} answers, "
        f"{summary.rest_of_product_negative_share:.1%} negative"
    )


if __name__ == "__main__":
    main()
