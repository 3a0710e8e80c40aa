"""Sentiment scoring: the interfaces every scorer and explainer implements, and the rules that turn
probabilities into a label and a score.

The lexicon scorer (``nlp.sentiment.lexicon``) implements both interfaces; the transformer model
implements ``SentimentScorer`` and keeps the lexicon as its explainer and fallback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from nlp.config import BINARY_BAND, SentimentConfig
from nlp.schema import LABELS, LEGACY_EMOTIONS, Emotion, Explanation, Label, Sentiment


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores texts (already normalised) in one call, so a model can batch them."""

    version: str

    def score(self, texts: Sequence[str]) -> list[Sentiment]: ...


@runtime_checkable
class Explainer(Protocol):
    """Says which words drove a text's sentiment and, for negative text, which emotion it shows."""

    def explain(self, text: str) -> Explanation: ...


def emotion_for(
    sentiment: Sentiment, text: str, explainer: Explainer, explanation: Explanation | None = None
) -> Emotion | None:
    """A text's emotion: the model's; without one, the lexicon's class for text read as negative
    (its five names mapped onto the six classes), else none."""
    if sentiment.emotion is not None:
        return sentiment.emotion
    if sentiment.label != "negative" or not text:
        return None
    named = (explanation or explainer.explain(text)).emotion
    label = LEGACY_EMOTIONS.get(named) if named else None
    return Emotion(label) if label else None


def label_for(p_negative: float, config: SentimentConfig) -> Label:
    """The band reading: negative at or above ``negative_above``, positive at or below
    ``positive_below`` (0.6 / 0.4 when the configuration sets no band), else neutral."""
    above, below = BINARY_BAND
    if config.negative_above is not None and config.positive_below is not None:
        above, below = config.negative_above, config.positive_below
    if p_negative >= above:
        return "negative"
    if p_negative <= below:
        return "positive"
    return "neutral"


def _check(p: float, version: str) -> None:
    # A probability outside [0, 1] (or NaN) is a scorer bug; clamping it would hide the bug.
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"probabilities must be in [0, 1], got {p!r} from {version}")


def sentiment_from_probability(p_negative: float, version: str, config: SentimentConfig) -> Sentiment:
    """The two-class Sentiment for a negative probability: label from the band, score = 1 - 2p.

    Raises ValueError for a probability outside [0, 1] (or NaN).
    """
    _check(p_negative, version)
    return Sentiment(
        label=label_for(p_negative, config),
        score=1.0 - 2.0 * p_negative,
        negative_probability=p_negative,
        model_version=version,
    )


def sentiment_from_probabilities(
    probabilities: Sequence[float], version: str, config: SentimentConfig, emotion: Emotion | None = None
) -> Sentiment:
    """The three-way Sentiment for P(negative), P(neutral), P(positive): the most probable class
    (the band of ``config`` instead, when it sets one), score = P(positive) - P(negative)."""
    negative, neutral, positive = (float(p) for p in probabilities)
    for p in (negative, neutral, positive):
        _check(p, version)
    label: Label
    if config.negative_above is not None:
        label = label_for(negative, config)
    else:
        label = LABELS[max(range(3), key=lambda k: (negative, neutral, positive)[k])]
    return Sentiment(
        label=label,
        score=positive - negative,
        negative_probability=negative,
        model_version=version,
        probabilities=dict(zip(LABELS, (negative, neutral, positive), strict=True)),
        emotion=emotion,
    )


def blend(own: Sentiment, context: Sentiment, weight: float, config: SentimentConfig) -> Sentiment:
    """``weight`` × ``own`` + (1 − ``weight``) × ``context``: a clause read in the light of its sentence.

    Three-way readings mix their probabilities (and emotions, when both have them); otherwise the
    negative probabilities are mixed. ``weight`` 1 is ``own`` unchanged."""
    if weight >= 1.0 or own is context:
        return own
    if own.probabilities and context.probabilities:
        mixed = [weight * own.probabilities[k] + (1 - weight) * context.probabilities[k] for k in LABELS]
        emotion = own.emotion
        if own.emotion and context.emotion and own.emotion.probabilities and context.emotion.probabilities:
            feelings = {
                e: weight * own.emotion.probabilities[e] + (1 - weight) * context.emotion.probabilities[e]
                for e in own.emotion.probabilities
            }
            emotion = Emotion(max(feelings, key=lambda e: feelings[e]), feelings)  # type: ignore[arg-type]
        return sentiment_from_probabilities(mixed, own.model_version, config, emotion)
    p = weight * own.negative_probability + (1 - weight) * context.negative_probability
    return sentiment_from_probability(min(1.0, max(0.0, p)), own.model_version, config)


__all__ = [
    "Explainer",
    "SentimentScorer",
    "blend",
    "emotion_for",
    "label_for",
    "sentiment_from_probabilities",
    "sentiment_from_probability",
]
