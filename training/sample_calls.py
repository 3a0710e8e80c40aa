"""The calls of the demo sample: real JD customer-service chats (JDDC sample) made readable, given
seeded segment metadata, and written as canonical transcript JSONL and as plain-text transcripts with
every marker variant the spec names. Driven by training.make_samples."""

from __future__ import annotations

import html
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from training.sample_config import WHITESPACE, SampleConfig, random_day, weighted_choice

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
