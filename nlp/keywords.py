"""Keywords a manager can read: nouns, noun–predicate and verb–object phrases, ranked by corpus TF-IDF.

Candidates come from the owned tokenizer's part-of-speech tags (never jieba's global instance):
nouns alone (快递, 发票), noun + predicate with negators kept and degree adverbs dropped
(物流 太慢 → 物流慢, 退款 不 到账 → 退款不到账), noun + noun (客服 态度 → 客服态度) and verb + object
(更换 屏幕 → 更换屏幕). Every domain-dictionary word is a candidate as it stands. Stopwords and
customer-service filler (您好, 谢谢, 请问) never are. The IDF is learned from the corpus being
analysed (``fit``), so words every answer uses (东西, 时候) sink and words of one demand rise.
Agent turns count ``agent_weight`` of a customer turn.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import jieba.posseg

from nlp.config import CorpusKeywordConfig
from nlp.errors import NotFittedError
from nlp.normalize import normalize
from nlp.redact import ANY_PLACEHOLDER
from nlp.schema import Result
from nlp.tokenize import Tokenizer, is_word

_LATIN = re.compile(r"^[0-9A-Za-z]+$")
_DIGITS = re.compile(r"^[0-9.]+$")
# Redaction placeholders ([手机号], [金额]) and the chat system's markers ([订单信息], [链接]).


@dataclass(frozen=True)
class TermCounts:
    """One document's candidate keywords with their speaker-weighted counts; `phrases` marks the
    candidates built from two or more tokens."""

    weights: dict[str, float]
    phrases: frozenset[str]


class KeywordExtractor:
    """Candidate keywords per item and a corpus IDF, scikit-learn style.

    ``fit`` learns ``n_documents_`` and ``document_frequency_`` from results; ``partial_fit`` adds a
    batch to them. ``keywords`` ranks one item's candidates by TF-IDF. POS tagging runs on the
    tokenizer's own jieba instance.
    """

    def __init__(self, tokenizer: Tokenizer, config: CorpusKeywordConfig | None = None) -> None:
        self.tokenizer = tokenizer
        self.config = config or CorpusKeywordConfig()
        self._pos = jieba.posseg.POSTokenizer(tokenizer.jieba)
        # jieba hands the user dictionary's tags to the first POSTokenizer that cuts and then clears
        # them, so a second extractor on the same tokenizer would tag 不到账 or 太慢 as unknown words:
        # give this one the tags explicitly.
        self._pos.word_tag_tab.update({word: pos for word, _freq, pos in tokenizer.user_words if pos})
        self._domain_words = frozenset(word for word, _freq, _pos in tokenizer.user_words)

    # -- candidates ---------------------------------------------------------------------------------

    def _is_stopword(self, word: str) -> bool:
        stop = self.tokenizer.stopwords
        return word in stop or word.lower() in stop

    def _is_noun(self, word: str, flag: str) -> bool:
        config = self.config
        if word in config.noun_words:
            return True
        if flag not in config.noun_tags or self._is_stopword(word) or _DIGITS.match(word):
            return False
        if word.lower() in config.noise_words:
            return False
        if word in config.degree_adverbs or word in config.negators:
            return False  # jieba tags 有点 as a noun
        if len(word) == 1:
            return word in config.single_char_nouns
        return not (_LATIN.match(word) and len(word) < config.min_latin_chars)

    def _strip_degree(self, word: str) -> str:
        """太慢 → 慢: a degree prefix glued to an adjective by the dictionary says nothing of the demand."""
        for adverb in self.config.degree_adverbs:
            if word.startswith(adverb) and len(word) > len(adverb):
                return word[len(adverb) :]
        return word

    def candidates(self, text: str) -> list[tuple[str, bool]]:
        """Candidate keywords of one text in order, each with True when it is a multi-token phrase."""
        config = self.config
        clean = ANY_PLACEHOLDER.sub("，", normalize(text))
        tokens = [(pair.word, pair.flag) for pair in self._pos.cut(clean, HMM=config.hmm)]
        out: list[tuple[str, bool]] = []
        predicate_at = -1
        for i, (word, flag) in enumerate(tokens):
            if not is_word(word):
                continue
            noun = self._is_noun(word, flag)
            domain = word in self._domain_words and not self._is_stopword(word)
            # A predicate already inside a phrase (太慢 in 物流慢) is not a keyword of its own.
            if (noun or domain) and i != predicate_at:
                out.append((word, False))
            phrase: str | None = None
            if noun or domain:  # 退款 (a domain verb) heads 退款不到账 as a noun would
                phrase, predicate_at = self._noun_phrase(tokens, i)
            elif flag in config.verb_tags and not self._is_stopword(word):
                phrase = self._verb_object(tokens, i)
            if phrase and len(phrase) <= config.max_phrase_chars:
                out.append((phrase, True))
        return out

    def _noun_phrase(self, tokens: Sequence[tuple[str, str]], i: int) -> tuple[str | None, int]:
        """物流 (太) 慢 → 物流慢; 退款 不 到账 → 退款不到账; 客服 态度 → 客服态度. Returns the phrase
        (or None) and the index of its predicate (-1 when there is none)."""
        config = self.config
        head = tokens[i][0]
        j = i + 1
        if j < len(tokens) and self._is_noun(*tokens[j]):
            return head + tokens[j][0], -1
        while j < len(tokens) and tokens[j][0] in config.degree_adverbs:
            j += 1
        negation = ""
        while j < len(tokens) and tokens[j][0] in config.negators:
            negation += tokens[j][0]
            j += 1
        if j >= len(tokens):
            return None, -1
        word, flag = tokens[j]
        if self._is_stopword(word) and word not in self._domain_words:
            return None, -1
        allowed = flag in config.predicate_tags or (negation and flag in config.negated_predicate_tags)
        if not allowed or not is_word(word):
            return None, -1
        return head + negation + (word if negation else self._strip_degree(word)), j

    def _verb_object(self, tokens: Sequence[tuple[str, str]], i: int) -> str | None:
        """更换 屏幕 → 更换屏幕: a verb directly followed by a noun object."""
        j = i + 1
        if j < len(tokens) and self._is_noun(*tokens[j]) and not _LATIN.match(tokens[i][0]):
            return tokens[i][0] + tokens[j][0]
        return None

    def segments(self, result: Result) -> list[tuple[str, float]]:
        """The texts of an item with their weights: every turn of a call (agent turns weigh
        ``agent_weight``), or the answer of a survey."""
        if result.kind == "transcript" and result.turns:
            return [
                (turn.text, 1.0 if turn.speaker == "customer" else self.config.agent_weight) for turn in result.turns
            ]
        return [(result.text, 1.0)]

    def count(self, result: Result) -> TermCounts:
        """Speaker-weighted counts of one item's candidate keywords."""
        weights: dict[str, float] = defaultdict(float)
        phrases: set[str] = set()
        for text, weight in self.segments(result):
            if weight <= 0 or not text.strip():
                continue
            for term, is_phrase in self.candidates(text):
                weights[term] += weight
                if is_phrase:
                    phrases.add(term)
        return TermCounts(dict(weights), frozenset(phrases))

    def pipe(self, results: Iterable[Result], batch_size: int = 256) -> Iterator[TermCounts]:
        """``count`` over a stream, in order (batching only bounds how much is read ahead)."""
        stream = iter(results)
        while batch := list(islice(stream, batch_size)):
            yield from (self.count(r) for r in batch)

    # -- corpus statistics --------------------------------------------------------------------------

    def fit(self, results: Sequence[Result]) -> KeywordExtractor:
        """Learn document frequencies from ``results``; returns self."""
        return self.fit_counts([self.count(r) for r in results])

    def fit_counts(self, counts: Sequence[TermCounts]) -> KeywordExtractor:
        """``fit`` from counts already made (the theme model counts once and reuses them)."""
        self.n_documents_ = 0
        self.document_frequency_: Counter[str] = Counter()
        return self.partial_fit_counts(counts)

    def partial_fit_counts(self, counts: Sequence[TermCounts]) -> KeywordExtractor:
        """Add a batch's counts to the learned document frequencies (starts them if unfitted)."""
        if not hasattr(self, "document_frequency_"):
            self.n_documents_ = 0
            self.document_frequency_ = Counter()
        for doc in counts:
            self.document_frequency_.update(doc.weights.keys())
        self.n_documents_ += len(counts)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "document_frequency_"):
            raise NotFittedError("KeywordExtractor is not fitted: call fit(results) on the corpus first")

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency, ln((1 + N) / (1 + df)) + 1, as scikit-learn's."""
        self._check_fitted()
        return math.log((1 + self.n_documents_) / (1 + self.document_frequency_[term])) + 1.0

    def scores(self, counts: TermCounts) -> dict[str, float]:
        """TF-IDF of each candidate (tf dampened as ln(1 + weighted count)); phrases seen in fewer
        than ``min_phrase_df`` documents of the corpus are left out."""
        self._check_fitted()
        df = self.document_frequency_
        return {
            term: math.log1p(weight) * self.idf(term)
            for term, weight in counts.weights.items()
            if term not in counts.phrases or df[term] >= self.config.min_phrase_df
        }

    def top_keywords(self, scores: dict[str, float], top_k: int | None = None) -> tuple[str, ...]:
        """The best ``top_k`` keywords; a word inside a chosen phrase (物流 in 物流慢) is not repeated."""
        top_k = self.config.top_k if top_k is None else top_k
        chosen: list[str] = []
        for term in sorted(scores, key=lambda t: (-scores[t], t)):
            if any(term in kept for kept in chosen):
                continue
            # A phrase replaces a word it contains that ranked higher.
            chosen = [kept for kept in chosen if kept not in term]
            chosen.append(term)
            if len(chosen) >= top_k:
                break
        return tuple(chosen)

    def keywords(self, result: Result, top_k: int | None = None) -> tuple[str, ...]:
        """One item's keywords, best first, by the fitted corpus IDF."""
        return self.top_keywords(self.scores(self.count(result)), top_k)
