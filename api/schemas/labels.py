"""Corrected labels given by analysts for stored items: a three-way polarity, an emotion, or both."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.config import JsonDict

from api.schemas.base import MAX_NOTE_CHARS, Label, StrictIn
from nlp.schema import EMOTION_NAMES, EmotionLabel

# What an analyst may write: the words (English or Chinese) or, as before three-way labels, 0/1.
# A bare 2 is refused: in a 0/1/2 file it means positive (JDDC's scale), so it cannot mean one thing here.
LabelValueIn = Literal["negative", "neutral", "positive", "负面", "中性", "正面", 0, 1]
EmotionValueIn = Literal[
    "angry", "sad", "fear", "surprise", "happy", "neutral", "愤怒", "失望", "焦虑", "惊讶", "满意", "中性"
]
_EMOTIONS_DOC = ", ".join(f"{label} {name}" for label, name in EMOTION_NAMES.items())
LABEL_RULE = "label must be negative, neutral or positive (负面, 中性, 正面), or 0 (negative) / 1 (positive)"


# The "a label, an emotion, or both" rule, as the schema says it (the model validator checks it).
_ONE_OF_THEM: JsonDict = {
    "anyOf": [{"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in ("label", "emotion")]
}


class LabelIn(StrictIn):
    """A corrected label for a stored item, named as in the batch results: batch id and item id. Give
    a polarity, an emotion, or both."""

    model_config = ConfigDict(json_schema_extra=_ONE_OF_THEM)

    batch_id: int = Field(ge=1, le=2**31)
    item_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    row: int | None = Field(default=None, ge=0, le=2**31, description="0-based row, when the item id repeats")
    label: LabelValueIn | None = Field(
        default=None,
        description="negative 负面, neutral 中性 or positive 正面; 0 (negative) and 1 (positive) as before. "
        "2 is refused (ambiguous): write the word",
    )
    emotion: EmotionValueIn | None = Field(
        default=None, description=f"The emotion, English or Chinese: {_EMOTIONS_DOC}; stored in English"
    )
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)] = ""

    @field_validator("label", mode="before")
    @classmethod
    def _no_ambiguous_number(cls, value: Any) -> Any:
        # Checked before the Literal: it would read True as 1, and say nothing helpful about a 2.
        if isinstance(value, bool) or value == 2 or value == "2":
            raise ValueError(f"{LABEL_RULE}; got {value!r} (2 is ambiguous: write neutral or positive)")
        return value

    @model_validator(mode="after")
    def _label_or_emotion(self) -> LabelIn:
        if self.label is None and self.emotion is None:
            raise ValueError(
                "give a label (negative/neutral/positive, or 0/1), an emotion "
                f"({', '.join(EMOTION_NAMES)} or {', '.join(EMOTION_NAMES.values())}), or both"
            )
        return self


class LabelOut(BaseModel):
    id: int
    batch_id: int
    item_id: str
    row: int
    label: Label | None = Field(description="the analyst's polarity; null when only an emotion was given")
    emotion: EmotionLabel | None = Field(description=f"the analyst's emotion ({_EMOTIONS_DOC}); null when none")
    emotion_name: str | None = Field(description="the emotion's Chinese name; null without an emotion")
    text: str = Field(description="the stored (redacted) text")
    predicted: str = Field(description="the model's label when the item was analysed")
    predicted_emotion: EmotionLabel | None = Field(
        description="the emotion the analysis gave the item; null when it gave none"
    )
    predicted_emotion_name: str | None = Field(description="its Chinese name")
    negative_probability: float
    model_version: str | None
    note: str
    key_id: int | None
    created_at: datetime


class LabelsOut(BaseModel):
    total: int
    items: list[LabelOut]
