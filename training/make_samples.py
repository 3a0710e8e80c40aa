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
import html
import json
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

Weights = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class SampleConfig:
    """Every tunable of the sample; the defaults build the committed files."""

    seed: int = 20260907
    n_calls: int = 300
    n_txt_calls: int = 40
    n_answers: int = 3000
    min_turns: int = 4
    max_review_chars: int = 200
    first_day: date = date(2026, 9, 7)
    n_days: int = 70
    tiers: Weights = (("钻石", 0.06), ("黄金", 0.16), ("白银", 0.30), ("基础", 0.48))
    # The chats are online text chats, so phone follow-up is rare for them.
    chat_channels: Weights = (("在线客服", 0.55), ("APP", 0.33), ("微信", 0.10), ("电话回访", 0.02))
    survey_channels: Weights = (("APP", 0.35), ("微信", 0.30), ("电话回访", 0.20), ("在线客服", 0.15))
    regions: Weights = (
        ("华东", 0.28),
        ("华南", 0.18),
        ("华北", 0.17),
        ("华中", 0.12),
        ("西南", 0.11),
        ("东北", 0.08),
        ("西北", 0.06),
    )
    waimai_share: float = 0.20
    base_negative_share: float = 0.35
    planted_product: str = "外卖"
    planted_region: str = "华东"
    planted_days: int = 14
    planted_negative_share: float = 0.75
    # Extra answers reserved for the planted cell, so it has the volume an alert test needs.
    planted_extra_share: float = 0.025
    nps_noise: float = 0.04
    positive_top_share: float = 0.82
    negative_low_share: float = 0.85
    nps_positive_top: Weights = (("8", 0.30), ("9", 0.35), ("10", 0.35))
    nps_negative_low: Weights = (("0", 0.10), ("1", 0.10), ("2", 0.15), ("3", 0.20), ("4", 0.20), ("5", 0.25))
    timestamp_every: int = 3
    continuation_every: int = 4


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

# Product line of a chat, inferred from keywords (space-separated); the first product with most hits wins.
CHAT_PRODUCT_KEYWORDS: dict[str, str] = {
    "手机": "手机 iPhone iphone 华为 荣耀 小米 OPPO vivo 魅族 充电器 数据线",
    "电脑": "电脑 笔记本 显卡 主板 硬盘 内存 显示器 键盘 鼠标 CPU 固态 平板 电脑包",
    "家电": "空调 冰箱 洗衣机 电视 热水器 油烟机 家电 净水器 微波炉 电饭 吸尘器",
    "服饰": "衣服 鞋 裤 外套 羽绒服 T恤 裙 尺码 码数 袜子",
    "食品": "奶粉 零食 水果 牛奶 大米 食品 白酒 红酒 啤酒 茶叶 生鲜 饮料",
    "图书": "图书 书籍 买书 这本书 儿童书 教材 小说 绘本",
    "母婴": "纸尿裤 尿不湿 奶瓶 婴儿 童车",
    "数码": "耳机 音箱 相机 手表 投影 手环 路由器 打印机 U盘",
    "家居": "坐便器 马桶 床品 被套 枕头 床垫 收纳 家具 沙发 窗帘 灯具",
}
OTHER_PRODUCT = "其他"
# Service boilerplate that mentions a product word without being about that product.
PRODUCT_FALSE_FRIENDS = re.compile(r"手机(畅通|号|端|APP|客户端|咨询|上)|电脑端")

# Renamed anonymisation placeholders of the JDDC data ("[订单x]" → "[订单号]"); others just lose the "x".
PLACEHOLDER_NAMES: dict[str, str] = {"订单": "订单号", "身份证号": "身份证", "组织机构": "机构"}
# The order card the chat widget inserts: "[订单编号:[订单x]，订单金额:[金额x]，下单时间:…]".
ORDER_CARD = re.compile(r"(顾客通过点击\S*?信息发送[:：]\s*)?\[订单编号[:：](?:[^\[\]]|\[[^\[\]]*\])*\]")
PLACEHOLDER = re.compile(r"\[([^\[\]\sx]{1,8})x\]")
USER_ID = re.compile(r"\[?USERID_(\[数字x\]|\d+)\]?")
EMOTICON_CODE = re.compile(r"#E(?:-\w+)?")
NUMBER_RUN = re.compile(r"(?:\[数字\])+")
WHITESPACE = re.compile(r"\s+")

# Plain-text speaker marker styles: (agent label, customer label), cycled over the calls.
TXT_STYLES: tuple[tuple[str, str], ...] = (
    ("客服：", "客户："),
    ("坐席:", "顾客:"),
    ("【客服】", "【客户】"),
    ("Agent: ", "Customer: "),
    ("客服：", "用户："),
)
# The source joined a turn's chat messages with spaces; one ending in sentence punctuation is a message.
MESSAGE_END = re.compile(r"(?<=[。！？!?~])\s+")
# A continuation line must not look like a label, a header, a separator or a timestamp.
LOOKS_LIKE_MARKUP = re.compile(r"^(#|---|\[\d{2}:|【|(客服|客户|坐席|顾客|用户|agent|customer)\s*[:：])", re.I)
SURVEY_HEADER = ("编号", "回答", "客户等级", "渠道", "区域", "产品线", "日期", "NPS评分")


@dataclass(frozen=True)
class ChatTurn:
    """One speaker turn (consecutive source lines of the same speaker joined by a space)."""

    speaker: str
    text: str


@dataclass(frozen=True)
class Call:
    """A converted chat with its (synthetic) segment metadata."""

    call_id: str
    turns: tuple[ChatTurn, ...]
    meta: dict[str, str]


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


# ---------------------------------------------------------------- chats


def normalise_chat_text(text: str) -> str:
    """Make the JDDC placeholders readable (``[订单x]`` → ``[订单号]``) and tidy whitespace."""
    text = html.unescape(text)
    text = ORDER_CARD.sub("[订单信息]", text)
    text = USER_ID.sub("[用户ID]", text)
    text = EMOTICON_CODE.sub("", text)
    text = PLACEHOLDER.sub(lambda m: f"[{PLACEHOLDER_NAMES.get(m.group(1), m.group(1))}]", text)
    text = NUMBER_RUN.sub("[数字]", text)
    return WHITESPACE.sub(" ", text).strip()


def load_chats(path: Path) -> dict[str, list[ChatTurn]]:
    """Read the JDDC TSV into merged turns per session id, in file order."""
    sessions: dict[str, list[ChatTurn]] = {}
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 7:
                raise ValueError(f"{path}:{line_no}: expected 7 tab-separated fields, got {len(fields)}")
            text = normalise_chat_text("\t".join(fields[6:]))
            if not text:
                continue
            speaker = "agent" if fields[2] == "1" else "customer"
            turns = sessions.setdefault(fields[0], [])
            if turns and turns[-1].speaker == speaker:
                turns[-1] = ChatTurn(speaker, f"{turns[-1].text} {text}")
            else:
                turns.append(ChatTurn(speaker, text))
    return sessions


def is_usable_chat(turns: Sequence[ChatTurn], min_turns: int) -> bool:
    """A chat is usable with enough turns and at least one customer turn."""
    return len(turns) >= min_turns and any(t.speaker == "customer" for t in turns)


def infer_chat_product(turns: Sequence[ChatTurn]) -> str:
    """Guess the product line from keywords in the chat, or ``其他``."""
    text = PRODUCT_FALSE_FRIENDS.sub("", " ".join(t.text for t in turns))
    best, best_hits = OTHER_PRODUCT, 0
    for product, keywords in CHAT_PRODUCT_KEYWORDS.items():
        hits = sum(text.count(k) for k in keywords.split())
        if hits > best_hits:
            best, best_hits = product, hits
    return best


def weighted_choice(rng: random.Random, weights: Weights) -> str:
    """Draw one label from (label, weight) pairs."""
    labels = [label for label, _ in weights]
    return rng.choices(labels, weights=[w for _, w in weights])[0]


def random_day(rng: random.Random, cfg: SampleConfig, last_days: int | None = None) -> date:
    """A day in the sample window, or in its last ``last_days`` days."""
    first = cfg.n_days - last_days if last_days else 0
    return cfg.first_day + timedelta(days=rng.randrange(first, cfg.n_days))


def chat_meta(session_id: str, turns: Sequence[ChatTurn], cfg: SampleConfig) -> dict[str, str]:
    """Segment metadata of one chat; seeded per session so it does not depend on the sample size."""
    rng = random.Random(f"{cfg.seed}:meta:{session_id}")
    return {
        "tier": weighted_choice(rng, cfg.tiers),
        "channel": weighted_choice(rng, cfg.chat_channels),
        "region": weighted_choice(rng, cfg.regions),
        "product": infer_chat_product(turns),
        "date": random_day(rng, cfg).isoformat(),
    }


def select_calls(
    sessions: dict[str, list[ChatTurn]], n_calls: int, n_txt_calls: int, cfg: SampleConfig
) -> tuple[list[Call], list[Call]]:
    """Draw two disjoint seeded samples of usable chats (JSONL, plain text), each sorted by date and id."""
    usable = sorted(sid for sid, turns in sessions.items() if is_usable_chat(turns, cfg.min_turns))
    if n_calls + n_txt_calls > len(usable):
        raise ValueError(f"only {len(usable)} usable chats, {n_calls + n_txt_calls} requested")
    random.Random(f"{cfg.seed}:calls").shuffle(usable)
    calls = [
        Call(f"jd-{sid[:8]}", tuple(sessions[sid]), chat_meta(sid, sessions[sid], cfg))
        for sid in usable[: n_calls + n_txt_calls]
    ]

    def by_date(group: list[Call]) -> list[Call]:
        return sorted(group, key=lambda c: (c.meta["date"], c.call_id))

    return by_date(calls[:n_calls]), by_date(calls[n_calls:])


def write_calls_jsonl(calls: Sequence[Call], path: Path) -> None:
    """Write canonical transcript JSONL, one call per line."""
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for call in calls:
            turns = [{"speaker": t.speaker, "text": t.text} for t in call.turns]
            record = {"id": call.call_id, "turns": turns, "meta": call.meta}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def format_clock(seconds: int) -> str:
    """``[hh:mm:ss]`` for an offset in seconds."""
    return f"[{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}]"


def txt_call_lines(call: Call, index: int, cfg: SampleConfig) -> list[str]:
    """The plain-text lines of one call; the marker variant depends on its index."""
    agent_label, customer_label = TXT_STYLES[index % len(TXT_STYLES)]
    with_clock = index % cfg.timestamp_every == 1
    # Some calls without timestamps put each chat message of a turn on its own unlabelled line.
    split_messages = not with_clock and index % cfg.continuation_every == 0
    rng = random.Random(f"{cfg.seed}:clock:{call.call_id}")
    clock = rng.randint(1, 8)
    meta = " ".join(f"{key}={value}" for key, value in call.meta.items())
    lines = [f"# id={call.call_id} {meta}"]
    for turn in call.turns:
        label = agent_label if turn.speaker == "agent" else customer_label
        prefix = f"{format_clock(clock)} " if with_clock else ""
        # Typing time grows with the text; the random pause keeps the clock from looking synthetic.
        clock += 4 + len(turn.text) // 3 + rng.randint(2, 25)
        if not split_messages:
            lines.append(f"{prefix}{label}{turn.text}")
            continue
        messages = MESSAGE_END.split(turn.text)
        current = f"{label}{messages[0]}"
        for message in messages[1:]:
            if LOOKS_LIKE_MARKUP.match(message):
                current = f"{current} {message}"
            else:
                lines.append(current)
                current = message
        lines.append(current)
    return lines


def write_calls_txt(calls: Sequence[Call], path: Path, cfg: SampleConfig) -> None:
    """Write plain-text transcripts, separated alternately by a blank line and by ``---``."""
    lines: list[str] = []
    for index, call in enumerate(calls):
        if index:
            lines.append("" if index % 2 else "---")
        lines.extend(txt_call_lines(call, index, cfg))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


# ---------------------------------------------------------------- survey


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
