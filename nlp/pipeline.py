"""The pipeline: item → redact → normalise → keywords → sentiment (per text, per turn, per call) → result.

Steps are passed in (a redactor, a tokenizer, a sentiment scorer, an explainer), so the transformer
model replaces the lexicon scorer without touching this file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from nlp.config import PipelineConfig, SentimentConfig
from nlp.normalize import normalize
from nlp.redact import Redactor
from nlp.schema import Explanation, Item, Result, Sentiment, Turn, TurnResult, customer_text
from nlp.sentiment import Explainer, SentimentScorer, sentiment_from_probability
from nlp.tokenize import Tokenizer


def aggregate_call(turns: Sequence[Sentiment], version: str, config: SentimentConfig) -> Sentiment:
    """A call's sentiment from its customer turns' sentiments (see SentimentConfig.call_aggregation).

    Agent turns are never passed here: their politeness must not make an angry call look positive.
    A call without customer turns is neutral (there is nothing the customer said to judge).
    """
    if not turns:
        return sentiment_from_probability(0.5, version, config)
    probabilities = [t.negative_probability for t in turns]
    mean = sum(probabilities) / len(probabilities)
    worst = max(probabilities)
    if config.call_aggregation == "mean":
        p = mean
    elif config.call_aggregation == "worst":
        p = worst
    elif config.call_aggregation == "mean_worst":
        p = (mean + worst) / 2
    elif config.call_aggregation == "recent":
        weights = [0.5 ** ((len(turns) - 1 - i) / config.recent_half_life) for i in range(len(turns))]
        p = sum(w * q for w, q in zip(weights, probabilities, strict=True)) / sum(weights)
    else:
        raise ValueError(f"unknown call_aggregation {config.call_aggregation!r}")
    return sentiment_from_probability(p, version, config)


@dataclass
class _Prepared:
    """An item after redaction: the redacted texts to store and their normalised analysis views."""

    item: Item
    text: str
    turn_texts: list[str] = field(default_factory=list)
    redactions: Counter[str] = field(default_factory=Counter)


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
    ) -> None:
        self.redactor = redactor
        self.tokenizer = tokenizer
        self.scorer = scorer
        self.explainer = explainer
        self.config = config or PipelineConfig()

    def __call__(self, item: Item) -> Result:
        return next(self.pipe([item]))

    def pipe(self, items: Iterable[Item], batch_size: int = 64) -> Iterator[Result]:
        """Results in input order; texts of a whole batch go to the scorer together."""
        stream = iter(items)
        while batch := list(islice(stream, batch_size)):
            yield from self._run_batch(batch)

    def _run_batch(self, batch: list[Item]) -> list[Result]:
        prepared = [self._redact(item) for item in batch]
        # One scorer call per batch: survey answers and every turn of every call, flattened.
        texts: list[str] = []
        for p in prepared:
            texts.extend(p.turn_texts if p.item.kind == "transcript" else [p.text])
        sentiments = iter(self.scorer.score([normalize(t) for t in texts]))
        return [self._result(p, sentiments) for p in prepared]

    def _redact(self, item: Item) -> _Prepared:
        if item.kind == "transcript":
            redacted = list(self.redactor.pipe(t.text for t in item.turns))
            counts: Counter[str] = Counter()
            for r in redacted:
                counts.update(r.counts)
            texts = [r.text for r in redacted]
            spoken = [Turn(t.speaker, text) for t, text in zip(item.turns, texts, strict=True)]
            return _Prepared(item, customer_text(spoken), texts, counts)
        r = self.redactor(item.text)
        return _Prepared(item, r.text, [], Counter(r.counts))

    def _keywords(self, text: str) -> tuple[str, ...]:
        top_k = self.config.keywords.top_k
        return tuple(self.tokenizer.keywords(text, top_k)) if top_k else ()

    def _result(self, p: _Prepared, sentiments: Iterator[Sentiment]) -> Result:
        item, config = p.item, self.config
        analysis_text = normalize(p.text)
        turns: tuple[TurnResult, ...] = ()
        if item.kind == "transcript":
            turns = tuple(
                TurnResult(t.speaker, text, next(sentiments), t.start, t.end)
                for t, text in zip(item.turns, p.turn_texts, strict=True)
            )
            customer = [t.sentiment for t in turns if t.speaker == "customer"]
            sentiment = aggregate_call(customer, self.scorer.version, config.sentiment)
        else:
            sentiment = next(sentiments)
        explanation = self.explainer.explain(analysis_text) if analysis_text else Explanation()
        return Result(
            id=item.id,
            kind=item.kind,
            text=p.text,
            sentiment=sentiment,
            turns=turns,
            emotion=explanation.emotion if sentiment.label == "negative" else None,
            explanation=explanation.cues,
            keywords=tuple(self.tokenizer.keywords(analysis_text, config.keywords.top_k))
            if config.keywords.top_k
            else (),
            redactions=dict(p.redactions),
            meta=item.meta,
        )


def build_pipeline(config: PipelineConfig | None = None, scorer: SentimentScorer | None = None) -> Pipeline:
    """The default pipeline on the bundled resources; `scorer` replaces the lexicon scorer (e.g. a model).

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
    )
