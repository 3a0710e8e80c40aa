"""The follow-up list (回访清单): single answers to call back, with who, which aspect, emotion and due time."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.base import Label
from nlp.schema import EmotionLabel


class FollowupAspectOut(BaseModel):
    """The opinion unit an entry is about (redacted text)."""

    theme: str | None = Field(description="theme id (taxonomy or discovered), null when no theme covers it")
    theme_label: str | None = Field(description="the theme as managers name it (物流配送)")
    term: str = Field(description="the aspect term (送餐, 客服); empty when the unit names none")
    opinion: str = Field(description="the opinion words (慢, 态度差); empty when none")
    text: str
    label: Label
    negative_probability: float
    emotion: EmotionLabel | None = None
    emotion_name: str | None = None


class FollowupOut(BaseModel):
    id: str
    item_id: str
    kind: Literal["transcript", "survey"]
    reasons: list[Literal["top_tier_negative", "abnormal_call"]]
    reason: str = Field(description="why the answer is on the list, in Chinese")
    segment: dict[str, str] = Field(description="tier, channel, region, product where the item has them")
    date: str | None
    aspect: FollowupAspectOut | None
    other_aspects: list[FollowupAspectOut] = Field(description="the answer's other negative units")
    text: str = Field(description="what to read before calling: the unit, or the (redacted) answer")
    negative_probability: float = Field(description="how negative: the unit's (or the answer's) probability")
    emotion: EmotionLabel | None
    emotion_name: str | None
    department: str
    deadline_hours: float
    due: str = Field(description="call back by (ISO time): when it was listed + the tier's deadline")
    listed_at: str
    trajectory: str = Field(description="a call's emotion trajectory (情绪由平转怒); empty for answers")


class FollowupsOut(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[FollowupOut]
