"""The lexicon sentiment scorer: the first scorer, and the explainer and fallback of the model.

A text (normalised by ``nlp.normalize.normalize``) is split into clauses at punctuation. In each
clause, lexicon words (one jieba token, or up to ``max_ngram`` tokens joined, e.g. 态度/差) are cues;
the negators and degree adverbs in the few tokens before a cue flip and scale it (不满意, 非常满意,
不太好, 没有不满意). Words jieba keeps whole with an operator inside (不太好, 很棒) are peeled into
不太 + 好. A contrast word (但是, 不过) shrinks the cues before it and grows those after it; a wish
(如果…就更好了, 希望…) makes its clause a mild complaint; a clause ending in "!" counts more. The sum
of the cues goes through a logistic to a negative probability. All tunables are in LexiconConfig.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from nlp.config import LexiconConfig, SentimentConfig
from nlp.errors import InputError, Location
from nlp.resources import data_path
from nlp.schema import Cue, Explanation, Sentiment
from nlp.sentiment import sentiment_from_probability
from nlp.sentiment.emotion import EMOTIONS, EmotionPhrase, pick_emotion
from nlp.tokenize import Tokenizer, read_word_list

VERSION = "lexicon-1"

# Clause = text up to a run of clause-ending punctuation or whitespace (call transcripts use spaces
# between fragments). Full-width marks are listed too, for text that was not normalised.
_CLAUSE = re.compile(r"([^,.!?;:~，。！？；：～…、\s]+)([,.!?;:~，。！？；：～…、\s]*)")
_EXCLAIM = re.compile(r"[!！]")
# The longest operator (negator or degree adverb) that can prefix a token: 从来没有, 完完全全.
_MAX_OPERATOR_LENGTH = 4
_MARKER_KINDS = ("contrast", "wish", "ack", "function")
# Sentence-final particles jieba glues onto a word (太好了, 坏啦); the word is looked up without them.
PARTICLES = frozenset("了啦啊呀吧呢")
# A "function" word (好) is grammar, not sentiment, before a perfective particle after a verb
# (修好了), before a quantity (好几天) and as a question tag (看清楚好吗).
_PERFECTIVE = frozenset(("了", "啦"))
_QUESTION_TAGS = frozenset(("吗", "么", "不"))


def _read_table(path: Path, columns: int) -> list[list[str]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as error:
        raise InputError(Location(str(path)), f"cannot read the lexicon file: {error.strerror}") from error
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise InputError(Location(str(path), number), f"expected {columns} tab-separated fields")
        rows.append(fields)
    return rows


def _float(text: str, path: Path, field: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(Location(str(path), field=field), f"not a number: {text!r}") from None


@dataclass(frozen=True)
class Lexicon:
    """The word lists the scorer uses (see data/README.md for where each comes from)."""

    polarity: Mapping[str, float]
    negators: frozenset[str]
    degree: Mapping[str, float]
    contrast: frozenset[str]
    wish: frozenset[str]
    ack: frozenset[str]
    function: frozenset[str]
    filler: frozenset[str]
    word_emotions: Mapping[str, tuple[str, float]]
    emotion_phrases: tuple[EmotionPhrase, ...]

    @classmethod
    def load(cls, directory: Path | None = None) -> Lexicon:
        """Read a lexicon folder (default: the bundled data/lexicon). Domain polarity overrides
        the compiled public lexicons; a domain weight of 0 neutralises a phrase."""
        folder = directory or data_path("lexicon")
        polarity: dict[str, float] = {}
        for name in ("polarity.tsv", "domain_polarity.tsv"):
            path = folder / name
            polarity.update({w: _float(v, path, w) for w, v in _read_table(path, 2)})
        degree_path = folder / "degree.tsv"
        emotion_path = folder / "emotion.tsv"
        phrases_path = folder / "domain_emotion.tsv"
        word_emotions = {w: (e, _float(v, emotion_path, w)) for w, e, v in _read_table(emotion_path, 3)}
        markers_path = folder / "markers.tsv"
        markers = _read_table(markers_path, 2)
        kinds = {k for _, k in markers} - set(_MARKER_KINDS)
        if kinds:
            raise InputError(Location(str(markers_path)), f"unknown marker kinds {sorted(kinds)}")
        phrases = tuple(EmotionPhrase(p, e, _float(v, phrases_path, p)) for p, e, v in _read_table(phrases_path, 3))
        unknown = sorted(({e for e, _ in word_emotions.values()} | {p.emotion for p in phrases}) - set(EMOTIONS))
        if unknown:
            raise InputError(Location(str(folder)), f"unknown emotions {unknown}; expected one of {EMOTIONS}")
        return cls(
            polarity=polarity,
            negators=read_word_list(folder / "negation.txt"),
            degree={w: _float(v, degree_path, w) for w, v in _read_table(degree_path, 2)},
            contrast=frozenset(w for w, k in markers if k == "contrast"),
            wish=frozenset(w for w, k in markers if k == "wish"),
            ack=frozenset(w for w, k in markers if k == "ack"),
            function=frozenset(w for w, k in markers if k == "function"),
            filler=read_word_list(folder / "filler.txt"),
            word_emotions=word_emotions,
            emotion_phrases=phrases,
        )


class LexiconScorer:
    """Scores texts from the lexicon and explains them; implements SentimentScorer and Explainer."""

    version = VERSION

    def __init__(
        self, tokenizer: Tokenizer, config: SentimentConfig | None = None, lexicon_dir: Path | None = None
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config or SentimentConfig()
        self.lexicon = Lexicon.load(lexicon_dir)
        self._operators = self.lexicon.negators | frozenset(self.lexicon.degree)
        # Acknowledgement clauses (好的, 嗯嗯好的谢谢) are pure filler: the 好 in them is not praise.
        fillers = sorted(self.lexicon.filler, key=len, reverse=True)
        self._filler = re.compile("|".join(re.escape(f) for f in fillers)) if fillers else None

    # --- public surface ---------------------------------------------------------------------
    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """One Sentiment per text, in order."""
        return [self(t) for t in texts]

    def __call__(self, text: str) -> Sentiment:
        return sentiment_from_probability(self.negative_probability(text), self.version, self.config)

    def pipe(self, texts: Iterable[str], batch_size: int = 256) -> Iterator[Sentiment]:
        """Sentiments of a stream of texts, in order."""
        stream = iter(texts)
        while batch := list(islice(stream, batch_size)):
            yield from self.score(batch)

    def negative_probability(self, text: str) -> float:
        """The logistic of the summed cue weights; exactly 0.5 for a text without cues."""
        return self._probability(sum(c.weight for c in self._cues(text)))

    def explain(self, text: str) -> Explanation:
        """The cues (lexicon word, signed weight after negation, degree, contrast and emphasis),
        strongest first, and the emotion when the text leans negative."""
        cues = self._cues(text)
        p_negative = self._probability(sum(c.weight for c in cues))
        emotion = None
        if p_negative > self.config.lexicon.emotion_above:
            negative = ((c.word, -c.weight) for c in cues if c.weight < 0)
            emotion = pick_emotion(negative, text, self.lexicon.word_emotions, self.lexicon.emotion_phrases)
        return Explanation(cues=tuple(sorted(cues, key=lambda c: -abs(c.weight))), emotion=emotion)

    # --- scoring ----------------------------------------------------------------------------
    @property
    def _tuning(self) -> LexiconConfig:
        return self.config.lexicon

    def _probability(self, score: float) -> float:
        z = self._tuning.logistic_slope * (score + self._tuning.logistic_offset)
        # Clamped so a text with dozens of cues cannot overflow exp().
        return 1.0 / (1.0 + math.exp(max(-50.0, min(50.0, z))))

    def _cues(self, text: str) -> list[Cue]:
        """Every cue of the text in order, with clause-level effects applied."""
        tuning = self._tuning
        cues: list[Cue] = []
        after_contrast = False
        for match in _CLAUSE.finditer(text):
            clause, ending = match.group(1), match.group(2)
            if self._is_acknowledgement(clause):
                continue
            tokens = self.tokenizer.cut(clause)
            boost = tuning.exclamation_boost if _EXCLAIM.search(ending) else 1.0
            wish = not self.lexicon.wish.isdisjoint(tokens)
            for cue in self._clause_cues(tokens):
                if cue is None:  # a contrast word
                    cues = [Cue(c.word, c.weight * tuning.contrast_before) for c in cues]
                    after_contrast = True
                    continue
                weight = -abs(cue.weight) * tuning.wish_factor if wish else cue.weight
                weight *= boost * (tuning.contrast_after if after_contrast else 1.0)
                if weight < 0:
                    weight *= tuning.negative_weight
                cues.append(Cue(cue.word, weight))
        return cues

    def _is_acknowledgement(self, clause: str) -> bool:
        rest = self._filler.sub("", clause).strip() if self._filler is not None else clause
        return not rest or rest in self.lexicon.ack

    def _is_grammatical(self, tokens: list[str], i: int) -> bool:
        """True when a function word (好) at i is grammar here: 修好了, 好几天, 好吗."""
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        before = tokens[i - 1] if i > 0 else ""
        if after in _QUESTION_TAGS or after.startswith("几"):
            return True
        return after in _PERFECTIVE and bool(before) and before not in self._operators

    def _clause_cues(self, tokens: list[str]) -> Iterator[Cue | None]:
        """The cues of one clause in order, negation and degree applied; None marks a contrast word."""
        lexicon, window = self.lexicon, self._tuning.negation_window
        pending: list[int] = []  # indexes of operator tokens since the last cue
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token in lexicon.contrast:
                yield None
                pending, i = [], i + 1
                continue
            if token in lexicon.function and self._is_grammatical(tokens, i):
                pending, i = [], i + 1
                continue
            found = self._match(tokens, i)
            if found is not None and token in lexicon.degree and self._match(tokens, i + 1) is not None:
                found = None  # 好贵, 好开心: a sentiment word used as a degree adverb
            operators = [tokens[j] for j in pending if j >= i - window]
            if found is not None:
                length, word, weight = found
                if weight:  # a weight of 0 neutralises a set phrase (辛苦了, 不客气)
                    yield Cue(word, self._compose(weight, operators))
                pending, i = [], i + length
                continue
            if token in self._operators:
                pending.append(i)
            else:
                peeled = self._peel(token)
                if peeled is not None:
                    prefixes, word = peeled
                    yield Cue(word, self._compose(lexicon.polarity[word], operators + prefixes))
                    pending = []
            i += 1

    def _match(self, tokens: list[str], i: int) -> tuple[int, str, float] | None:
        """The longest run of tokens from i that is a lexicon word: (tokens used, word, weight)."""
        polarity = self.lexicon.polarity
        for length in range(min(self._tuning.max_ngram, len(tokens) - i), 0, -1):
            word = "".join(tokens[i : i + length])
            if word in polarity:
                return length, word, polarity[word]
        return None

    def _lookup(self, piece: str) -> str | None:
        """The lexicon word a token piece stands for: itself, or itself without a final particle."""
        polarity = self.lexicon.polarity
        if polarity.get(piece):
            return piece
        if len(piece) > 1 and piece[-1] in PARTICLES and polarity.get(piece[:-1]):
            return piece[:-1]
        return None

    def _peel(self, token: str, depth: int = 2) -> tuple[list[str], str] | None:
        """Operators and particles jieba kept inside a token: 不太好 → (["不太"], "好"),
        很不满意 → (["很", "不"], "满意"), 太好了 → (["太"], "好"); at most ``depth`` prefixes."""
        word = self._lookup(token)
        if word is not None:
            return [], word
        if depth == 0:
            return None
        for size in range(min(_MAX_OPERATOR_LENGTH, len(token) - 1), 0, -1):
            prefix = token[:size]
            if prefix in self._operators:
                deeper = self._peel(token[size:], depth - 1)
                if deeper is not None:
                    return [prefix, *deeper[0]], deeper[1]
        return None

    def _compose(self, weight: float, operators: list[str]) -> float:
        """Apply negators and degree adverbs, in the order they were said, to a word's weight."""
        tuning, lexicon = self._tuning, self.lexicon
        negations, scale = 0, 1.0
        for op in operators:
            if op in lexicon.negators:
                negations += 1
            degree = lexicon.degree.get(op)
            if degree is not None:
                # 不很好 / 不太好: a degree under negation softens; weakeners (稍, 不太) stay weak.
                scale *= degree if negations == 0 or degree < 1 else tuning.negated_degree_factor
        composed = weight * scale
        if negations % 2:
            composed = -composed if weight > 0 else -composed * tuning.negated_negative_factor
        return composed
