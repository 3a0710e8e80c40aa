"""Stored results of a batch, as in results.jsonl (SPEC.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.base import Label
from api.schemas.sentiment import (
    AspectsField,
    CallReadingOut,
    CueOut,
    EmotionNameOut,
    EmotionOut,
    EmotionProbabilitiesField,
    ProbabilitiesOut,
)


class SentimentValueOut(BaseModel):
    label: Label
    score: float
    negative_probability: float
    model_version: str
    probabilities: ProbabilitiesOut = None


class TurnOut(BaseModel):
    speaker: Literal["agent", "customer"]
    text: str
    sentiment: SentimentValueOut
    emotion: EmotionOut = None
    emotion_name: EmotionNameOut = None
    emotion_probabilities: EmotionProbabilitiesField = None
    start: float | None = None
    end: float | None = None


class ThemeRefOut(BaseModel):
    id: str
    weight: float | None


class ResultOut(BaseModel):
    """One analysed item (redacted text), as in results.jsonl (SPEC.md)."""

    id: str
    kind: Literal["transcript", "survey"]
    text: str
    sentiment: SentimentValueOut
    turns: list[TurnOut] | None = None
    call: CallReadingOut | None = Field(
        default=None, description="Transcripts: the customer's emotion trajectory and the abnormal flag"
    )
    emotion: EmotionOut = None
    emotion_name: EmotionNameOut = None
    emotion_probabilities: EmotionProbabilitiesField = None
    explanation: list[CueOut]
    keywords: list[str]
    themes: list[ThemeRefOut]
    aspects: AspectsField
    redactions: dict[str, int]
    meta: dict[str, Any]


class ResultsPageOut(BaseModel):
    batch_id: int
    total: int
    offset: int
    limit: int
    items: list[ResultOut]
