"""One typed configuration tree for the pipeline. Defaults make sense; nothing is read from the
environment here (that is the edges' job)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RedactionConfig:
    """What is redacted. Phones, ID numbers, bank cards and e-mails always are; names need the NER model."""

    person_names: bool = True


@dataclass(frozen=True)
class SentimentConfig:
    """How probabilities become labels, and how a call's score is built from its customer turns."""

    # negative_probability >= negative_above -> negative; <= positive_below -> positive; else neutral.
    negative_above: float = 0.6
    positive_below: float = 0.4
    # "mean" of the customer turns' negative probabilities, "worst" turn, or "mean_worst" (average of both).
    call_aggregation: str = "mean"


@dataclass(frozen=True)
class KeywordConfig:
    top_k: int = 8


@dataclass(frozen=True)
class PipelineConfig:
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    keywords: KeywordConfig = field(default_factory=KeywordConfig)
