"""Word segmentation, content words and TF-IDF keywords on a jieba instance of our own.

jieba keeps a global tokenizer (``jieba.dt``) that ``jieba.analyse`` uses silently; loading the
domain dictionary there would leak into every other user of jieba in the process. This module owns
a ``jieba.Tokenizer``, loads the user dictionary into it, and hands that same instance to keyword
extraction, so the global one is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import jieba
import jieba.analyse
import jieba.posseg

from nlp.errors import InputError, Location
from nlp.redact import blank_placeholders
from nlp.resources import data_path

# A token is a word when it has a letter, digit or CJK character; jieba also emits runs of
# spaces and punctuation ("，", "……", "  ") as tokens.
_WORDLIKE = re.compile(r"[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff]")
_USER_DICT_LINE = re.compile(r"^(\S+)(?:\s+(\d+))?(?:\s+([A-Za-z]+))?$")


def _read_user_dict(path: Path) -> list[tuple[str, int | None, str | None]]:
    """Entries of a jieba user dictionary (``word [freq] [pos]``), with '#' comment lines.

    Parsed here rather than by ``jieba.Tokenizer.load_userdict`` because jieba would take a comment
    line for a word, and its errors do not say which line is wrong.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise InputError(Location(str(path)), f"cannot read the user dictionary: {error.strerror}") from error
    entries: list[tuple[str, int | None, str | None]] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _USER_DICT_LINE.match(line)
        if match is None:
            raise InputError(Location(str(path), number), f"expected 'word [freq] [pos]', got {line!r}")
        word, freq, pos = match.groups()
        entries.append((word, int(freq) if freq else None, pos))
    return entries


def read_word_list(path: Path) -> frozenset[str]:
    """A one-word-a-line list (stopwords, filler); '#' lines are comments."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise InputError(Location(str(path)), f"cannot read the word list: {error.strerror}") from error
    return frozenset(w for w in (line.strip() for line in lines) if w and not w.startswith("#"))


def is_word(token: str) -> bool:
    """True for words; False for whitespace and punctuation tokens."""
    return bool(_WORDLIKE.search(token))


class Tokenizer:
    """jieba segmentation with the domain dictionary, stopwords and keyword extraction.

    Loading takes about two seconds (jieba's prefix dictionary, POS table and IDF table): build one
    per process and share it. ``cut`` and ``keywords`` do not change the instance.
    """

    def __init__(self, user_dict: Path | None = None, stopwords: Path | None = None) -> None:
        self.user_dict = user_dict or data_path("dict", "domain.txt")
        self.stopwords_path = stopwords or data_path("stopwords.txt")
        self.stopwords = read_word_list(self.stopwords_path)

        # Read before jieba loads, so that a broken dictionary fails fast.
        self.user_words = _read_user_dict(self.user_dict)
        self.jieba = jieba.Tokenizer()
        self.jieba.initialize()
        for word, freq, pos in self.user_words:
            self.jieba.add_word(word, freq, pos)

        # TFIDF() starts out on jieba.dt / jieba.posseg.dt: point both at our instance.
        self._tfidf = jieba.analyse.TFIDF()
        self._tfidf.tokenizer = self.jieba
        self._tfidf.postokenizer = jieba.posseg.POSTokenizer(self.jieba)
        self._tfidf.stop_words = set(self._tfidf.stop_words) | set(self.stopwords)

    def cut(self, text: str) -> list[str]:
        """The words of ``text`` in order, without whitespace or punctuation tokens."""
        return [t for t in self.jieba.cut(text) if is_word(t)]

    def content_words(self, text: str) -> list[str]:
        """``cut`` without stopwords and customer-service filler (您好, 请问, 谢谢 ...)."""
        return [t for t in self.cut(text) if t not in self.stopwords and t.lower() not in self.stopwords]

    def keywords(self, text: str, top_k: int = 8) -> list[str]:
        """The ``top_k`` words of highest TF-IDF (jieba's IDF table; domain words without an IDF
        get the median), stopwords and filler left out."""
        if top_k <= 0 or not text.strip():
            return []
        ranked = self._tfidf.extract_tags(blank_placeholders(text), topK=None)
        return [w for w in ranked if is_word(w)][:top_k]

    def __call__(self, text: str) -> list[str]:
        return self.cut(text)

    def pipe(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[list[str]]:
        """``cut`` over a stream of texts, in order (batching only bounds how much is read ahead)."""
        stream = iter(texts)
        while batch := list(islice(stream, batch_size)):
            yield from (self.cut(t) for t in batch)
