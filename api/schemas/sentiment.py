"""Real-time sentiment: texts or one call in, a score per text (and per turn) out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import MAX_TEXT_CHARS, MAX_TEXTS, MAX_TURNS, Label, StrictIn, Text


class TextsIn(StrictIn):
    """Texts to score, 1 to 64 of them, each 1 to 2,000 characters."""

    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS, examples=[["快递太慢了，客服也不回消息"]])


class TurnIn(StrictIn):
    speaker: Annotated[str, StringConstraints(min_length=1, max_length=20)] = Field(
        description="agent or customer; 客服/坐席/顾客/客户/用户 are understood", examples=["客户"]
    )
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


class TranscriptIn(StrictIn):
    """One call: its turns (1 to 200); the call's score comes from the customer's turns only."""

    id: Annotated[str, StringConstraints(max_length=200)] = "call"
    turns: list[TurnIn] = Field(min_length=1, max_length=MAX_TURNS)


class CueOut(BaseModel):
    word: str
    weight: float


class ScoreOut(BaseModel):
    label: Label
    score: float = Field(description="-1 very negative … +1 very positive")
    negative_probability: float
    emotion: str | None = Field(description="愤怒, 焦虑, 失望… for negative text, else null")
    explanation: list[CueOut] = Field(description="the words that drove the result")


class TurnScoreOut(BaseModel):
    speaker: Literal["agent", "customer"]
    label: Label
    score: float
    negative_probability: float


class SentimentOut(BaseModel):
    """For texts: one result per text. For a transcript: `results` holds the call's result (also in
    `call`), and `turns` one score per turn."""

    model_version: str
    results: list[ScoreOut]
    call: ScoreOut | None = None
    turns: list[TurnScoreOut] | None = None
