"""Personal data outside the answer text: metadata fields and messages.

A metadata field is personal by its name (联系电话, 客户姓名, 身份证号, 邮箱, 收货地址, 卡号, 会员号…) or,
for any other free-text field (备注), by what its value holds. A personal field's value is replaced by
its placeholder ([手机号], [姓名]…); other string values go through the redactor like the answer text.
The segment fields (tier, channel, region, product, date, scores) and the item id are the business's
own words and stay. Identifiers the business needs to act (a phone to call back, its own customer id)
are handed out separately by `protected_fields`, for the service to keep encrypted; nothing here keeps
them. Row-error messages can quote a bad cell: `scrub` takes the personal data out of such text.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from nlp.config import RedactionConfig
from nlp.readers.columns import header_key
from nlp.redact import PLACEHOLDERS, Redactor, find_personal_data

# The fields the readers parse or map to a segment: never personal data by name, never redacted.
SEGMENT_FIELDS = frozenset({"id", "nps", "csat", "date", "tier", "channel", "region", "product"})

# Kind of personal field → words its name contains (compared on the header key: simplified, lower
# case, no separators). The first kind that matches wins, so 联系人电话 is a phone, 联系人 a name.
FIELD_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id_card", ("身份证", "证件号", "证件号码", "idcard", "idno", "idnumber")),
    ("bank_card", ("卡号", "银行卡", "银行账号", "银行帐号", "bankcard", "cardno", "cardnumber", "iban")),
    ("email", ("邮箱", "邮件", "电邮", "email", "mail")),
    ("phone", ("电话", "手机", "联系方式", "phone", "mobile", "tel", "telephone", "cellphone")),
    ("address", ("地址", "住址", "住所", "address", "addr")),
    ("customer_id", ("客户编号", "客户id", "客户号", "会员号", "会员编号", "会员id", "用户id", "用户编号",
                     "账户", "帐户", "customerid", "userid", "memberid", "account")),
    ("person_name", ("姓名", "名字", "联系人", "客户名", "收件人", "收货人", "称呼", "客户称呼", "name")),
)  # fmt: skip

_CAMEL = re.compile(r"([a-z])([A-Z])")


def field_kind(key: str) -> str | None:
    """The kind of personal data a metadata field holds by its name ("phone", "person_name"…), or None."""
    if key in SEGMENT_FIELDS:
        return None
    folded = header_key(key)
    # English words are whole words of the name (customer_phone, customerId: not the "tel" of hotel).
    tokens = re.findall(r"[a-z]+|[0-9]+", _CAMEL.sub(r"\1 \2", key).lower())
    english = set(tokens) | {a + b for a, b in pairwise(tokens)}
    for kind, words in FIELD_WORDS:
        if any(word in english if word.isascii() else word in folded for word in words):
            return kind
    return None


def protected_fields(meta: Mapping[str, Any], config: RedactionConfig) -> dict[str, str]:
    """The raw values of the personal fields the business keeps (`config.kept_fields`: a phone to call
    back, its customer id), by field name — for the service to encrypt. Blank values are left out."""
    out: dict[str, str] = {}
    for key, value in meta.items():
        if field_kind(key) in config.kept_fields and value is not None and str(value).strip():
            out[key] = str(value).strip()
    return out


@dataclass(frozen=True)
class RedactedMeta:
    meta: dict[str, Any]
    counts: dict[str, int]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _strings(inner)


def _replace(value: Any, done: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return done[value]
    if isinstance(value, Mapping):
        return {k: PLACEHOLDERS[kind] if (kind := field_kind(str(k))) else _replace(v, done) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace(v, done) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        # a phone or card number read from a spreadsheet as a number
        found = find_personal_data(str(value))
        return PLACEHOLDERS[found[0][2]] if found else value
    return value


def redact_meta(meta: Mapping[str, Any], redactor: Redactor) -> RedactedMeta:
    """`meta` with personal fields replaced by their placeholder and personal data taken out of every
    other string value (nested JSON objects and lists included); segment fields are kept as they are."""
    out: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    free: dict[str, Any] = {}
    for key, value in meta.items():
        kind = field_kind(key)
        if key in SEGMENT_FIELDS:
            out[key] = value
        elif kind is not None:
            out[key] = PLACEHOLDERS[kind]
            counts[kind] += 1
        else:
            free[key] = value
    texts = list(dict.fromkeys(s for value in free.values() for s in _strings(value)))
    done: dict[str, str] = {}
    for text, redacted in zip(texts, redactor.pipe(texts), strict=True):
        done[text] = redacted.text
        counts.update(redacted.counts)
    for key, value in free.items():
        out[key] = _replace(value, done)
    return RedactedMeta({k: out[k] for k in meta}, dict(counts))


_DEFAULT_CONFIG = RedactionConfig()
_QUOTED = re.compile(r"'([^'\n]{1,200})'|\"([^\"\n]{1,200})\"")
# The commonest Chinese surnames: a short all-Chinese quoted value starting with one may be a name.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_CJK = re.compile(r"^[\u4e00-\u9fff]{2,4}$")


def scrub(text: str, config: RedactionConfig = _DEFAULT_CONFIG) -> str:
    """A message (a row error, a log line) with personal data taken out: phone, ID and card numbers and
    e-mails by pattern, and a quoted cell that may be a name on its own ('张伟' in a date column: two to
    four Chinese characters starting with a common surname) replaced by [姓名]. Longer quoted text
    keeps its words, so that a bad row can still be found."""
    spans = find_personal_data(text, config)
    for start, end, kind in reversed(spans):
        text = text[:start] + PLACEHOLDERS[kind] + text[end:]
    if "'" not in text and '"' not in text:
        return text
    return _QUOTED.sub(_quoted, text)


def _quoted(match: re.Match[str]) -> str:
    value = match.group(1) if match.group(1) is not None else match.group(2)
    if _CJK.match(value) and value[0] in _SURNAMES:
        quote = match.group()[0]
        return f"{quote}{PLACEHOLDERS['person_name']}{quote}"
    return match.group()


class ScrubbingFilter(logging.Filter):
    """A logging filter that scrubs every message (`scrub`) before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_scrubbing(logger: logging.Logger | None = None) -> None:
    """Put a ScrubbingFilter on each handler of `logger` (the root logger) that has none yet."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
