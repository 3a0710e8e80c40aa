"""Sentiment scoring: the interfaces every scorer and explainer implements, and the one rule that
turns a negative probability into a label and a score.

The lexicon scorer (``nlp.sentiment.lexicon``) implements both interfaces; the transformer model
implements ``SentimentScorer`` and keeps the lexicon as its explainer and fallback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from nlp.config import SentimentConfig
from nlp.schema import Explanation, Label, Sentiment


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores texts (already normalised) in one call, so a model can batch them."""

    version: str

    def score(self, texts: Sequence[str]) -> list[Sentiment]: ...


@runtime_checkable
class Explainer(Protocol):
    """Says which words drove a text's sentiment and, for negative text, which emotion it shows."""

    def explain(self, text: str) -> Explanation: ...


def label_for(p_negative: float, config: SentimentConfig) -> Label:
    """negative at or above ``negative_above``, positive at or below ``positive_below``, else neutral."""
    if p_negative >= config.negative_above:
        return "negative"
    if p_negative <= config.positive_below:
        return "positive"
    return "neutral"


def sentiment_from_probability(p_negative: float, version: str, config: SentimentConfig) -> Sentiment:
    """The Sentiment for a negative probability: label with the neutral band, score = 1 - 2p.

    Raises ValueError for a probability outside [0, 1] (or NaN): that is a scorer bug, and
    clamping it would hide the bug.
    """
    if math.isnan(p_negative) or not 0.0 <= p_negative <= 1.0:
        raise ValueError(f"negative probability must be in [0, 1], got {p_negative!r} from {version}")
    return Sentiment(
        label=label_for(p_negative, config),
        score=1.0 - 2.0 * p_negative,
        negative_probability=p_negative,
        model_version=version,
    )


__all__ = ["Explainer", "SentimentScorer", "label_for", "sentiment_from_probability"]
