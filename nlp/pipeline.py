"""The pipeline: item → redact → normalise → keywords → sentiment (per text, per turn, per call) →
opinion units (aspects, each with its own sentiment) → result.

Steps are passed in (a redactor, a tokenizer, a sentiment scorer, an explainer, an aspect extractor),
so the transformer model replaces the lexicon scorer without touching this file. Every distinct
normalised text (an answer, a turn, an opinion unit) is scored once per batch and remembered across
batches (``memo_size`` texts): real exports repeat 好评, 不错, 物流很快 thousands of times. Aspects get
their themes later, from the theme step (nlp.aspects.themes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from nlp.aspects.extract import AspectExtractor
from nlp.aspects.polarity import UnitPolarity, unit_features
from nlp.aspects.units import is_whole, sentence_span
from nlp.config import CallConfig, PipelineConfig, SentimentConfig
from nlp.normalize import normalize
from nlp.personal import protected_fields, redact_meta
from nlp.redact import Redactor
from nlp.schema import (
    EMOTIONS,
    LABELS,
    Aspect,
    CallReading,
    Emotion,
    EmotionLabel,
    Explanation,
    Item,
    Result,
    Sentiment,
    Turn,
    TurnResult,
    customer_text,
)
from nlp.sentiment import (
    Explainer,
    SentimentScorer,
    blend,
    emotion_for,
    sentiment_from_probabilities,
    sentiment_from_probability,
)
from nlp.tokenize import Tokenizer


def _call_weights(turns: Sequence[Sentiment], config: SentimentConfig) -> list[float]:
    """Each customer turn's weight in the call's reading (they sum to 1)."""
    n = len(turns)
    worst = max(range(n), key=lambda i: turns[i].negative_probability)
    method = config.call_aggregation
    if method == "mean":
        weights = [1.0] * n
    elif method == "worst":
        weights = [float(i == worst) for i in range(n)]
    elif method == "mean_worst":
        weights = [1.0 / n + float(i == worst) for i in range(n)]
    elif method == "recent":
        weights = [0.5 ** ((n - 1 - i) / config.recent_half_life) for i in range(n)]
    else:  # "last"
        weights = [float(i == n - 1) for i in range(n)]
    total = sum(weights)
    return [w / total for w in weights]


def aggregate_call(turns: Sequence[Sentiment], version: str, config: SentimentConfig) -> Sentiment:
    """A call's sentiment (and emotion) from its customer turns' (see SentimentConfig.call_aggregation):
    the weighted mean of their probabilities, three-way when the turns have them.

    Agent turns are never passed here: their politeness must not make an angry call look positive.
    A call without customer turns is neutral (there is nothing the customer said to judge).
    """
    if not turns:
        return sentiment_from_probability(0.5, version, config)
    weights = _call_weights(turns, config)
    if not all(t.probabilities for t in turns):
        p = sum(w * t.negative_probability for w, t in zip(weights, turns, strict=True))
        return sentiment_from_probability(min(1.0, max(0.0, p)), version, config)
    probabilities = [
        min(1.0, sum(w * t.probabilities[label] for w, t in zip(weights, turns, strict=True))) for label in LABELS
    ]
    emotion = None
    if all(t.emotion is not None and t.emotion.probabilities for t in turns):
        mixed: dict[str, float] = {
            e: sum(w * t.emotion.probabilities[e] for w, t in zip(weights, turns, strict=True) if t.emotion)
            for e in EMOTIONS
        }
        emotion = Emotion(max(EMOTIONS, key=lambda e: mixed[e]), mixed)
    return sentiment_from_probabilities(probabilities, version, config, emotion)


def turn_emotion(result: TurnResult) -> EmotionLabel:
    """A turn's emotion for the trajectory: the model's, else what its polarity implies."""
    if result.emotion is not None:
        return result.emotion.label
    return {"negative": "sad", "positive": "happy"}.get(result.sentiment.label, "neutral")  # type: ignore[return-value]


def read_call(turns: Sequence[TurnResult], config: CallConfig) -> CallReading:
    """How the customer started and ended, and whether the call is abnormal (see CallConfig)."""
    customer = [i for i, t in enumerate(turns) if t.speaker == "customer"]
    if not customer:
        return CallReading(None, None)
    first, last = turns[customer[0]], turns[customer[-1]]
    reasons: list[str] = []
    anger = last.emotion.probabilities.get("angry", 0.0) if last.emotion and last.emotion.probabilities else None
    if turn_emotion(last) == "angry" and (anger is None or anger >= config.ends_angry):
        reasons.append("ends_angry")
    rise = last.sentiment.negative_probability - first.sentiment.negative_probability
    if len(customer) > 1 and last.sentiment.label == "negative" and rise >= config.escalation:
        reasons.append("escalated")
    if any(
        turns[i].sentiment.label == "negative"
        and turns[i].sentiment.negative_probability >= config.negative_after_reply
        and turns[i - 1].speaker == "agent"
        for i in customer[1:]
    ):
        reasons.append("negative_after_reply")
    return CallReading(turn_emotion(first), turn_emotion(last), bool(reasons), tuple(reasons))


class _Unit(NamedTuple):
    """An aspect before scoring: where it is, what it says, and the text its reading is scored on (the
    whole answer or turn when the unit is all of it, so a one-clause answer is scored once)."""

    turn: int | None
    text: str
    start: int
    end: int
    term: str
    opinion: str
    scored: str
    # The unit's sentence when that sentence is only part of the answer: what the fitted reader reads
    # the unit against in a long review ("" when the answer is one sentence: then it is the answer).
    sentence: str = ""


@dataclass
class _Prepared:
    """An item after redaction: the redacted texts to store and their normalised analysis views."""

    item: Item
    text: str
    turn_texts: list[str] = field(default_factory=list)
    redactions: Counter[str] = field(default_factory=Counter)
    units: list[_Unit] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """Turns items into results. Build it once (models load in the steps' constructors) and reuse it."""

    def __init__(
        self,
        *,
        redactor: Redactor,
        tokenizer: Tokenizer,
        scorer: SentimentScorer,
        explainer: Explainer,
        config: PipelineConfig | None = None,
        aspects: AspectExtractor | None = None,
        unit_polarity: UnitPolarity | None = None,
        memo_size: int = 100_000,
    ) -> None:
        self.redactor = redactor
        self.tokenizer = tokenizer
        self.scorer = scorer
        self.explainer = explainer
        self.config = config or PipelineConfig()
        self.aspects = aspects
        self.unit_polarity = unit_polarity
        # Sentences are scored for the reader only when it reads this scorer's readings.
        self._reads_sentences = unit_polarity is not None and unit_polarity.model_version == scorer.version
        self.memo_size = memo_size
        self._memo: dict[str, Sentiment] = {}
        self._explained: dict[str, tuple[Explanation, tuple[str, ...]]] = {}

    def __call__(self, item: Item) -> Result:
        return next(self.pipe([item]))

    def pipe(self, items: Iterable[Item], batch_size: int = 64) -> Iterator[Result]:
        """Results in input order; texts of a whole batch go to the scorer together."""
        stream = iter(items)
        while batch := list(islice(stream, batch_size)):
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[Item]) -> list[Result]:
        prepared = [self._units(self._redact(item)) for item in batch]
        # One scorer call per batch: answers, every turn and every opinion unit, each distinct text once.
        texts: list[str] = []
        for p in prepared:
            texts.extend(p.turn_texts if p.item.kind == "transcript" else [p.text])
            texts.extend(t for u in p.units for t in ((u.scored, u.sentence) if u.sentence else (u.scored,)))
        sentiments = iter(self._score([normalize(t) for t in texts]))
        return [self._result(p, sentiments) for p in prepared]

    def _score(self, texts: list[str]) -> list[Sentiment]:
        """The scorer's reading of each text, every distinct text scored once (and remembered)."""
        memo = self._memo
        known = {t: s for t in dict.fromkeys(texts) if (s := memo.get(t)) is not None}
        fresh = [t for t in dict.fromkeys(texts) if t not in known]
        if fresh:
            scored = dict(zip(fresh, self.scorer.score(fresh), strict=True))
            known.update(scored)
            if len(memo) + len(scored) > self.memo_size:
                memo.clear()
            memo.update(scored)
        return [known[t] for t in texts]

    def _units(self, p: _Prepared) -> _Prepared:
        """The opinion units of an answer or of the customer's turns, with their term and opinion."""
        if self.aspects is None or not self.config.aspects.enabled:
            return p
        sources: list[tuple[int | None, str]]
        if p.item.kind == "transcript":
            sources = [
                (i, text)
                for i, (turn, text) in enumerate(zip(p.item.turns, p.turn_texts, strict=True))
                if turn.speaker == "customer"
            ]
        else:
            sources = [(None, p.text)]
        for turn, text in sources:
            units = self.aspects.units(text)
            whole = len(units) == 1 and is_whole(units[0][0].text, text)
            for unit, reading in units:
                scored = text if whole else unit.text
                sentence = ""
                if self._reads_sentences:
                    begin, end = sentence_span(text, unit.start)
                    sentence = "" if is_whole(text[begin:end], text) else text[begin:end]
                p.units.extend(
                    _Unit(turn, unit.text, unit.start, unit.end, term, reading.opinion, scored, sentence)
                    for term in reading.terms
                )
        return p

    def _aspects(
        self, p: _Prepared, sentiments: Iterator[Sentiment], context: Sequence[Sentiment]
    ) -> tuple[Aspect, ...]:
        """Each unit's reading in the light of its answer's or turn's (AspectConfig)."""
        config = self.config.aspects
        out = []
        fitted = self.unit_polarity
        for u in p.units:
            own = next(sentiments)
            sentence = next(sentiments) if u.sentence else None
            weight = config.own_weight if u.opinion else config.unjudged_weight
            around = context[u.turn] if u.turn is not None else context[0]
            text = normalize(u.text)
            sentiment = blend(own, around, weight, self.config.sentiment)
            # The polarity from the fitted reader (nlp.aspects.polarity), the feelings from the mix. A unit
            # that is all of its answer keeps the answer's reading (``own is around``): the reader was
            # fitted on clauses of longer sentences, and on whole customer turns it loses neutral.
            if (
                fitted is not None
                and self.aspects is not None
                and own is not around
                and fitted.fits(own)
                and fitted.fits(around)
            ):
                # Read against its sentence when the answer is longer (the reader learnt on sentences).
                polarity = self.aspects.lexicon.polarity
                features = unit_features(own, sentence or around, text, u.term, u.opinion, polarity)
                probabilities = fitted.probabilities(features)
                sentiment = sentiment_from_probabilities(
                    probabilities, own.model_version, self.config.sentiment, sentiment.emotion
                )
            emotion = emotion_for(sentiment, text, self.explainer)
            out.append(Aspect(u.text, u.start, u.end, u.term, u.opinion, sentiment, emotion, None, u.turn))
        return tuple(out)

    def _redact(self, item: Item) -> _Prepared:
        meta = redact_meta(item.meta, self.redactor)
        counts: Counter[str] = Counter(meta.counts)
        if item.kind == "transcript":
            redacted = list(self.redactor.pipe(t.text for t in item.turns))
            for r in redacted:
                counts.update(r.counts)
            texts = [r.text for r in redacted]
            spoken = [Turn(t.speaker, text) for t, text in zip(item.turns, texts, strict=True)]
            return _Prepared(item, customer_text(spoken), texts, counts, meta=meta.meta)
        r = self.redactor(item.text)
        counts.update(r.counts)
        return _Prepared(item, r.text, [], counts, meta=meta.meta)

    def _words(self, text: str) -> tuple[Explanation, tuple[str, ...]]:
        """The lexicon's explanation and the keywords of a normalised text (remembered, like scores)."""
        known = self._explained.get(text)
        if known is None:
            top_k = self.config.keywords.top_k
            known = (
                self.explainer.explain(text) if text else Explanation(),
                tuple(self.tokenizer.keywords(text, top_k)) if top_k else (),
            )
            if len(self._explained) >= self.memo_size:
                self._explained.clear()
            self._explained[text] = known
        return known

    def _turn(self, turn: Turn, text: str, sentiment: Sentiment) -> TurnResult:
        return TurnResult(
            turn.speaker, text, sentiment, turn.start, turn.end, emotion_for(sentiment, normalize(text), self.explainer)
        )

    def _result(self, p: _Prepared, sentiments: Iterator[Sentiment]) -> Result:
        item, config = p.item, self.config
        analysis_text = normalize(p.text)
        explanation, keywords = self._words(analysis_text)
        turns: tuple[TurnResult, ...] = ()
        call = None
        if item.kind == "transcript":
            turns = tuple(
                self._turn(t, text, next(sentiments)) for t, text in zip(item.turns, p.turn_texts, strict=True)
            )
            customer = [t.sentiment for t in turns if t.speaker == "customer"]
            sentiment = aggregate_call(customer, self.scorer.version, config.sentiment)
            call = read_call(turns, config.sentiment.call)
        else:
            sentiment = next(sentiments)
        aspects = self._aspects(p, sentiments, [t.sentiment for t in turns] if turns else [sentiment])
        return Result(
            id=item.id,
            kind=item.kind,
            text=p.text,
            sentiment=sentiment,
            turns=turns,
            emotion=emotion_for(sentiment, analysis_text, self.explainer, explanation),
            explanation=explanation.cues,
            keywords=keywords,
            redactions=dict(p.redactions),
            meta=p.meta,
            call=call,
            aspects=aspects,
            protected=protected_fields(item.meta, self.redactor.config),
        )


def build_pipeline(
    config: PipelineConfig | None = None, scorer: SentimentScorer | None = None, seeds: Iterable[str] = ()
) -> Pipeline:
    """The default pipeline on the bundled resources; `scorer` replaces the lexicon scorer (e.g. a model);
    `seeds` are the taxonomy's seed words (a unit holding one is an aspect even without a noun).

    Loads the NER model, the dictionaries and the lexicon: call once per process.
    """
    # Imported here so that importing the pipeline module does not pull in onnxruntime.
    from nlp.ner import PersonNameFinder
    from nlp.sentiment.lexicon import LexiconScorer

    config = config or PipelineConfig()
    tokenizer = Tokenizer()
    names = PersonNameFinder(config.redaction) if config.redaction.person_names else None
    lexicon = LexiconScorer(tokenizer, config.sentiment)
    return Pipeline(
        redactor=Redactor(config.redaction, names=names),
        tokenizer=tokenizer,
        scorer=scorer or lexicon,
        explainer=lexicon,
        config=config,
        aspects=AspectExtractor(tokenizer, lexicon.lexicon, seeds),
        unit_polarity=UnitPolarity.load() if config.aspects.fitted_polarity else None,
    )
