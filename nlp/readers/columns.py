"""Field vocabulary shared by the readers: header and speaker synonyms, and the parsing of the
typed fields (date, nps, csat, turn times) and of segment metadata.

Headers and speakers are compared after the same normalisation as text (half-width, folded
whitespace, traditional → simplified, lower case), so 客戶等級, 產品線 and AGENT need no entries.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from nlp.normalize import fold_whitespace, to_halfwidth, to_simplified
from nlp.schema import Speaker

CANONICAL = ("text", "id", "nps", "csat", "date", "tier", "channel", "region", "product")

HEADER_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "text": (
        "text", "answer", "回答", "内容", "意见", "评价", "反馈", "留言", "comment", "comments", "review",
        "feedback", "content", "response", "verbatim", "意见建议", "意见或建议", "建议", "评论", "回复",
        "答案", "回答内容", "反馈内容", "留言内容", "评价内容", "意见反馈", "用户评价", "客户反馈", "回馈",
        "意见回馈",
    ),
    "id": (
        "id", "编号", "序号", "问卷编号", "答卷编号", "回访编号", "记录编号", "工单号", "respondent_id",
        "response_id",
    ),
    "nps": (
        "nps", "nps评分", "推荐度", "推荐意愿", "推荐分", "推荐指数", "推荐评分", "净推荐值", "nps分数",
        "nps_score",
    ),
    "csat": (
        "csat", "满意度", "满意度评分", "满意度打分", "满意程度", "总体满意度", "整体满意度", "csat_score",
        "satisfaction",
    ),
    "date": (
        "date", "日期", "时间", "提交时间", "created_at", "创建时间", "填写时间", "答题时间", "提交日期",
        "回访日期", "回访时间", "通话日期", "通话时间", "datetime", "timestamp", "submitted_at", "time",
    ),
    "tier": ("tier", "客户等级", "等级", "会员等级", "客户级别", "会员级别", "用户等级", "level", "vip等级"),
    "channel": ("channel", "渠道", "来源", "来源渠道", "接入渠道", "反馈渠道", "source"),
    "region": ("region", "区域", "地区", "大区", "所属区域", "所属地区", "area"),
    "product": ("product", "产品", "产品线", "产品名称", "商品", "商品名称", "产品类型", "品类"),
}  # fmt: skip

# Words that mark a survey question used as a header ("您向朋友推荐我们的可能性有多大？"). A match by
# keyword is only taken when the column's values agree (see nlp.readers.survey).
HEADER_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "nps": ("推荐", "nps"),
    "csat": ("满意", "csat"),
    "text": ("意见", "建议", "评价", "反馈", "留言", "原因", "看法", "感受", "想说", "comment", "feedback"),
}

SPEAKER_SYNONYMS: Mapping[Speaker, tuple[str, ...]] = {
    # 客户经理/客户代表/customer service are staff: listed so that the longer label wins over 客户/customer.
    "agent": (
        "agent", "客服", "坐席", "座席", "人工客服", "在线客服", "售后", "售后客服", "服务人员", "客服人员",
        "工作人员", "话务员", "接线员", "客服专员", "回访专员", "客户经理", "客户代表", "客户服务", "商家",
        "卖家", "staff", "operator", "csr", "service", "customer service", "customer_service",
    ),
    "customer": (
        "customer", "顾客", "客户", "用户", "买家", "来电人", "来电客户", "消费者", "业主", "user", "client",
        "buyer", "caller",
    ),
}  # fmt: skip

_SEPARATORS = re.compile(r"[\s_\-.·]+")
_TRAILING_NOTE = re.compile(r"[(\[【<《][^)\]】>》]*[)\]】>》]$")
_TRAILING_PUNCT = re.compile(r"[:?*!。.,，;；、]+$")


def header_key(header: str) -> str:
    """Comparison key of a header: normalised, lower case, with separators, a trailing
    parenthesised note ("NPS评分(0-10)") and trailing punctuation ("满意度：") removed."""
    key = to_simplified(fold_whitespace(to_halfwidth(header))).lower()
    key = _TRAILING_PUNCT.sub("", key)
    key = _TRAILING_NOTE.sub("", key).strip()
    key = _TRAILING_PUNCT.sub("", key)
    return _SEPARATORS.sub("", key)


_HEADER_LOOKUP: dict[str, str] = {
    header_key(word): canonical for canonical, words in HEADER_SYNONYMS.items() for word in words
}


def canonical_header(header: str) -> str | None:
    """The canonical field a header names by synonym (客戶等級 → "tier"), or None."""
    return _HEADER_LOOKUP.get(header_key(header))


def meta_key(header: str) -> str:
    """The key an unmapped column or metadata key is stored under: simplified, whitespace folded."""
    return to_simplified(fold_whitespace(header))


def speaker_key(raw: str) -> str:
    """Comparison key of a speaker label: normalised, lower case, brackets, colon and numbering dropped."""
    key = to_simplified(fold_whitespace(to_halfwidth(raw))).lower()
    key = key.strip("[]【】()（）<>《》: ")
    return re.sub(r"[\s_\-#]*\d+$", "", key)


_SPEAKER_LOOKUP: dict[str, Speaker] = {
    speaker_key(word): speaker for speaker, words in SPEAKER_SYNONYMS.items() for word in words
}


def speaker_of(raw: str) -> Speaker | None:
    """ "agent" or "customer" for a label (客服, 坐席, 顧客, Customer, agent_2 ...), else None."""
    return _SPEAKER_LOOKUP.get(speaker_key(raw))


# --- typed values --------------------------------------------------------------------------------

# Dates are calendar days in China: epoch timestamps and zone-aware datetimes are read in UTC+8.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))
_EXCEL_EPOCH = dt.date(1899, 12, 30)
# Excel day serials for 1954..2119: a bare 5-digit number in a date column is one of these.
_EXCEL_SERIALS = range(20_000, 80_000)
_YMD = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"
    r"(?:(?:[T\s]+|(?<=[日号]))(?:上午|下午|晚上|早上|中午|凌晨)?\s*\d{1,2}\s*[:时点].*)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\s*\d{6})?$")
_EPOCH_DIGITS = {10: 1, 13: 1000}  # digits of an epoch timestamp in seconds / milliseconds


def parse_date(value: object) -> str:
    """A date in any usual form → ISO "YYYY-MM-DD"; raises ValueError with a reason.

    Accepts 2026-11-02, 2026/11/2, 2026.11.02, 2026年11月2日, 20261102, the same with a time,
    ISO datetimes, date/datetime objects (Excel date cells), Excel day serials and epoch seconds.
    """
    if isinstance(value, dt.datetime):
        moment = value.astimezone(CHINA_TZ) if value.tzinfo else value
        return moment.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a date: {value!r}")
    return _parse_date_text(value)


@lru_cache(maxsize=4096)
def _parse_date_text(value: int | float | str) -> str:
    text = fold_whitespace(to_halfwidth(str(value)))
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if text.isdigit() and int(text) in _EXCEL_SERIALS:
        return (_EXCEL_EPOCH + dt.timedelta(days=int(text))).isoformat()
    if text.isdigit() and len(text) in _EPOCH_DIGITS:
        seconds = int(text) / _EPOCH_DIGITS[len(text)]
        return dt.datetime.fromtimestamp(seconds, CHINA_TZ).date().isoformat()
    try:
        # ISO forms first, so that a zone ("...T23:30:00Z") moves the day to China's calendar.
        return parse_date(dt.datetime.fromisoformat(text))
    except ValueError:
        pass
    match = _YMD.match(text) or _COMPACT.match(text)
    if match is None:
        raise ValueError(f"unrecognised date {value!r} (expected e.g. 2026-11-02 or 2026年11月2日)")
    year, month, day = (int(part) for part in match.groups()[:3])
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError as error:
        raise ValueError(f"impossible date {value!r}: {error}") from None


SCORE_RANGES: Mapping[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}
# Chinese surveys often export satisfaction as its answer label rather than a number.
CSAT_LABELS: Mapping[str, int] = {
    "非常满意": 5, "很满意": 5, "满意": 4, "比较满意": 4, "较满意": 4, "基本满意": 4, "一般": 3,
    "不太满意": 2, "不满意": 2, "很不满意": 1, "非常不满意": 1,
}  # fmt: skip
_SCORE_SUFFIX = re.compile(r"\s*(分|星|points?|pts)$")


def parse_score(value: object, field: str) -> int:
    """An nps (0–10) or csat (1–5) score as int: 9, 9.0, "9", "９", "9分", csat "非常满意";
    raises ValueError with a reason."""
    low, high = SCORE_RANGES[field]
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number from {low} to {high}, got {value!r}")
    if isinstance(value, str):
        text = to_simplified(fold_whitespace(to_halfwidth(value))).lower()
        if field == "csat" and text in CSAT_LABELS:
            return CSAT_LABELS[text]
        text = _SCORE_SUFFIX.sub("", text)
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{field} must be a number from {low} to {high}, got {value!r}") from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ValueError(f"{field} must be a number from {low} to {high}, got {value!r}")
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"{field} must be a whole number from {low} to {high}, got {value!r}")
    if not low <= number <= high:
        raise ValueError(f"{field} out of range {low}–{high}: {value!r}")
    return int(number)


_CLOCK = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$")


def parse_seconds(value: object) -> float:
    """A turn time in seconds: 83, 83.5, "83.5", "01:23", "00:01:23", "00:01:23,500"; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = to_halfwidth(value).strip()
        clock = _CLOCK.match(text)
        try:
            if clock:
                hours, minutes, rest = clock.groups()
                seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))
            else:
                seconds = float(text)
        except ValueError:
            raise ValueError(f"not a time in seconds or hh:mm:ss: {value!r}") from None
    else:
        raise ValueError(f"not a time: {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a valid time: {value!r}")
    return seconds


# Segment values repeat (金卡, 华东, 净水器 on every row): cache their normalisation.
@lru_cache(maxsize=4096)
def _normal_string(value: str) -> str:
    return to_simplified(fold_whitespace(value))


def clean_value(value: object) -> Any:
    """A metadata value as stored: strings simplified and whitespace-folded, whole floats as int,
    dates as ISO strings; other JSON values unchanged."""
    if isinstance(value, str):
        return _normal_string(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def meta_renames(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Inverse of a given column mapping for metadata keys: header comparison key → canonical name."""
    return {header_key(header): canonical for canonical, header in (columns or {}).items()}


def transcript_meta_key(key: str, renames: Mapping[str, str]) -> str:
    """Where a call's metadata key (meta object key or `# key=value` header) is stored: a canonical
    name by the given mapping or by synonym (客户等级 → tier), else the key itself, normalised.
    A call's text is its turns, so a key that names the text column stays metadata."""
    canonical = renames.get(header_key(key)) or canonical_header(key)
    if canonical is None or canonical == "text":
        return meta_key(key)
    return canonical


def is_blank(value: object) -> bool:
    """None, or a string of whitespace (zero-width space and BOM included)."""
    return value is None or (isinstance(value, str) and not value.strip().strip("\u200b\ufeff").strip())


def build_meta(entries: Iterable[tuple[str, str, object]]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Metadata from (key, field as written in the file, value) entries.

    date/nps/csat are parsed; a bad one is left out and returned as a (field, message) problem.
    Blank values are left out. The first entry for a key wins.
    """
    meta: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, field, value in entries:
        if is_blank(value) or key in meta:
            continue
        try:
            if key == "date":
                meta[key] = parse_date(value)
            elif key in SCORE_RANGES:
                meta[key] = parse_score(value, key)
            else:
                meta[key] = clean_value(value)
        except ValueError as error:
            problems.append((field, f"{error}; field left out"))
    return meta, problems
