"""Aspect terms and opinion words of opinion units: 物流太慢了 → 物流·慢, 服务员态度差 → 服务员·态度差.

Words come from the pipeline's jieba instance (``jieba.cut``, five times faster than ``posseg``) and
their part of speech from jieba's own word table plus the domain dictionary. In a unit:

- an **opinion** is a lexicon polarity word or an adjective (少, 咸, 适中 are opinions without a
  polarity of their own), with a degree adverb glued to it peeled off (太慢 → 慢, 很少 → 少) and a
  negator before it kept (不新鲜);
- a **term** is a noun of two characters or more (or a listed one: 菜; or a run of two nouns:
  上菜速度) that is not a pronoun, a person, a time, a
  brand or place name, or a word that stands for the product in general (东西, 商品, 商家): those are
  segment dimensions or filler, not demands (data/aspects/not_terms.txt). The term is the noun nearest
  before the opinion, else the nearest after it.

A unit that names a thing without judging it is read together with the next unit when that one
judges without naming (这家店的服务，真的很差 → 服务·差), which is the context a clause needs.
Readings are cached by unit text: real exports repeat 好评, 不错, 物流很快 thousands of times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jieba.posseg

from nlp.aspects.units import Unit, sentence_span, split_units
from nlp.errors import ConfigError
from nlp.normalize import normalize
from nlp.redact import blank_placeholders
from nlp.resources import data_path
from nlp.sentiment.lexicon import Lexicon
from nlp.taxonomy import seed_pattern
from nlp.tokenize import Tokenizer, is_word, read_word_list

_NOUN_TAGS = frozenset(("n", "vn", "ng", "an", "nrfg"))
# Brand names, places, organisations, people, times, numbers: never a term.
_NEVER_TAGS = frozenset(("nr", "nrt", "ns", "nt", "nz", "t", "m", "mq", "r", "q"))
_ADJECTIVE_TAGS = frozenset(("a", "ad", "ag", "z"))
_COORDINATORS = frozenset(("和", "跟", "与", "及", "以及", "还有", "、", "和和"))
_CACHE_SIZE = 200_000
_UNSEEN = object()
_MAX_TERM = 6  # characters of a two-noun term


@dataclass(frozen=True)
class Reading:
    """What one unit says: its term and opinion ("" when missing) and every term-like word in it."""

    term: str = ""
    opinion: str = ""
    nouns: tuple[str, ...] = ()
    seeded: bool = False  # holds a taxonomy seed word
    coordinated: bool = False  # nouns joined by 和 / 、 / 跟 …: one opinion about each (菜品和服务都很好)

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms the unit's opinion is about: every coordinated noun, else the one term."""
        if self.coordinated and len(self.nouns) > 1:
            return self.nouns
        return (self.term,)

    @property
    def empty(self) -> bool:
        return not self.term and not self.opinion and not self.seeded


def read_word_classes(path: Path) -> dict[str, str]:
    """The words of data/aspects/words.txt as part-of-speech tags: ``n`` for [term], ``a`` for [opinion]."""
    tags: dict[str, str] = {}
    tag = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            tag = {"[term]": "n", "[opinion]": "a"}.get(line, "")
            if not tag:
                raise ConfigError(f"{path}: unknown section {line}; expected [term] or [opinion]")
            continue
        tags.update((word, tag) for word in line.split())
    return tags


class AspectExtractor:
    """Reads units for their term and opinion (see the module docstring). Build one per process."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        lexicon: Lexicon,
        seeds: Iterable[str] = (),
        not_terms: frozenset[str] | None = None,
    ) -> None:
        """``seeds`` are the taxonomy's seed words: a unit holding one is kept even when it has no
        noun or opinion (下次还会再来 for a seed 再来), and a seed that is a noun can be its term."""
        self.tokenizer = tokenizer
        self.lexicon = lexicon
        self.not_terms = not_terms if not_terms is not None else read_word_list(data_path("aspects", "not_terms.txt"))
        tagger = jieba.posseg.POSTokenizer(tokenizer.jieba)
        tagger.makesure_userdict_loaded()
        self._tags: dict[str, str] = dict(tagger.word_tag_tab)
        listed = read_word_classes(data_path("aspects", "words.txt"))
        self._tags.update(listed)
        self._listed_terms = frozenset(w for w, tag in listed.items() if tag == "n")
        self._degree_lengths = sorted({len(d) for d in lexicon.degree}, reverse=True)
        self._cores: dict[str, str | None] = {}
        self._cache: dict[str, Reading] = {}
        self._seeds = seed_pattern(seeds)

    # -- words ------------------------------------------------------------------------------------

    def _tag(self, word: str) -> str:
        return self._tags.get(word, "x")

    def _opinion_core(self, word: str) -> str | None:
        """The opinion in a token (what is left after a degree adverb glued to it, else the token
        itself), else None. Cached: it runs for every token."""
        known = self._cores.get(word, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]
        core = None
        for k in self._degree_lengths:  # longest degree adverb first
            rest = word[k:]
            if rest and word[:k] in self.lexicon.degree and self._is_opinion(rest):
                core = rest
                break
        if core is None and self._is_opinion(word):
            core = word
        if len(self._cores) >= _CACHE_SIZE:
            self._cores.clear()
        self._cores[word] = core
        return core

    def _seeded(self, word: str) -> bool:
        return bool(self._seeds and self._seeds.search(word))

    def _is_opinion(self, word: str) -> bool:
        if word in self.lexicon.negators or (word in self.lexicon.degree and word not in self.lexicon.polarity):
            return False
        return self.lexicon.polarity.get(word, 0.0) != 0.0 or self._tag(word) in _ADJECTIVE_TAGS

    def _is_noun(self, word: str) -> bool:
        tag = self._tag(word)
        if tag not in _NOUN_TAGS or word in self.not_terms:
            return False
        if word not in self._listed_terms and self._opinion_core(word) is not None:
            return False  # 太差, 很好: jieba has some judgements as nouns
        return len(word) >= 2 or word in self._listed_terms  # 菜, 量: only single characters listed

    # -- units ------------------------------------------------------------------------------------

    def read(self, text: str) -> Reading:
        """The term and opinion of one unit's normalised text (cached)."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        reading = self._read(text)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[text] = reading
        return reading

    def _read(self, text: str) -> Reading:
        if text in self.lexicon.filler or text in self.lexicon.ack:
            return Reading()  # 好的, 嗯, 谢谢: an acknowledgement says nothing about anything
        tokens = list(self.tokenizer.jieba.cut(blank_placeholders(text)))
        words = [w for w in tokens if is_word(w)]
        coordinated = any(
            t in _COORDINATORS and self._is_noun(a) and self._is_noun(b)
            for a, t, b in zip(tokens, tokens[1:], tokens[2:], strict=False)
        )
        opinion_at, opinion = -1, ""
        for i, word in enumerate(words):
            core = None if self._is_noun(word) else self._opinion_core(word)
            if core is None:
                continue
            negated = any(w in self.lexicon.negators for w in words[max(0, i - 2) : i])
            opinion_at, opinion = i, ("不" + core if negated and not core.startswith("不") else core)
            if self.lexicon.polarity.get(core, 0.0) != 0.0:
                break  # a polarity word wins over a plain adjective
        nouns: list[tuple[int, str]] = []
        i = 0
        while i < len(words):
            if self._is_noun(words[i]):
                term, j = words[i], i + 1
                if j < len(words) and self._is_noun(words[j]) and len(term) + len(words[j]) <= _MAX_TERM:
                    if self._seeded(term) and self._seeded(words[j]):
                        coordinated = True  # 环境服务都不错: two seeded nouns side by side are two things
                    else:
                        term, j = term + words[j], j + 1
                nouns.append((i, term))
                i = j
            else:
                i += 1
        term = ""
        if nouns:
            before = [t for at, t in nouns if opinion_at < 0 or at < opinion_at]
            term = before[-1] if before else nouns[0][1]
        seed = self._seeds.search(text) if self._seeds else None
        if seed and not term and seed.group() != opinion:
            term = seed.group()
        return Reading(term, opinion, tuple(t for _, t in nouns), seed is not None, coordinated)

    def units(self, text: str) -> list[tuple[Unit, Reading]]:
        """The opinion units of ``text`` with their readings; units that say nothing are dropped, a
        unit naming without judging is merged with a following one judging without naming."""
        out: list[tuple[Unit, Reading]] = []
        pending: tuple[Unit, Reading] | None = None
        for unit in split_units(text):
            reading = self.read(normalize(unit.text))
            if pending is not None:
                first, named = pending
                pending = None
                # Not across a sentence end: 叫了半天没人理。总体还不错 are two things said.
                same_sentence = sentence_span(text, first.start) == sentence_span(text, unit.start)
                if reading.opinion and not reading.term and same_sentence:
                    merged = Unit(text[first.start : unit.end], first.start, unit.end)
                    out.append((merged, Reading(named.term, reading.opinion, named.nouns)))
                    continue
                out.append((first, named))
            if reading.term and not reading.opinion:
                pending = (unit, reading)
            elif not reading.empty:
                out.append((unit, reading))
        if pending is not None:
            out.append(pending)
        return out


__all__ = ["AspectExtractor", "Reading"]
