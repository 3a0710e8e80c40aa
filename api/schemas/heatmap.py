"""The demand heatmap and the weekly trend (nlp.heatmap's to_dict forms), counted in aspect mentions."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HeatmapThemeOut(BaseModel):
    id: str
    label: str
    keywords: list[str]
    department: str


class CellOut(BaseModel):
    theme: str
    column: str
    mentions: int = Field(ge=0, description="aspect mentions of the theme in this column, each with its own polarity")
    items: int = Field(ge=0, description="distinct answers the mentions come from")
    negatives: int = Field(ge=0, description="negative mentions")
    negative_share: float = Field(ge=0.0, le=1.0, description="negatives / mentions")
    negative_share_low: float = Field(ge=0.0, le=1.0, description="lower end of the Wilson interval")
    negative_share_high: float = Field(ge=0.0, le=1.0, description="upper end of the Wilson interval")
    mean_score: float = Field(ge=-1.0, le=1.0, description="mean score (P(positive) - P(negative)) of the mentions")
    priority: float = Field(ge=0.0, description="mentions × negative share shrunk toward the overall share")
    sparse: bool = Field(description="fewer than min_mentions mentions: the share rests on too little to compare")
    examples: list[str] = Field(description="the units (redacted clauses) of the most negative mentions")
    count: int = Field(ge=0, description="= mentions (the first version's name)", deprecated=True)


class HeatmapOut(BaseModel):
    dimension: str
    items: int = Field(ge=0, description="answers counted (with a theme filter: those mentioning the theme)")
    mentions: int = Field(ge=0, description="mentions counted, the sum over the cells")
    counting: str
    priority_formula: str
    prior_items: float
    interval: str
    confidence: float = Field(gt=0.0, lt=1.0)
    min_mentions: int = Field(ge=1)
    overall_negative_share: float
    themes: list[HeatmapThemeOut]
    columns: list[str] = Field(description="in reading order: tiers 钻石 → 基础, weeks in time, others by mentions")
    cells: list[CellOut]


class TrendPointOut(BaseModel):
    week: str
    mentions: int = Field(ge=0)
    items: int = Field(ge=0)
    negatives: int = Field(ge=0)
    negative_share: float = Field(ge=0.0, le=1.0)
    negative_share_low: float = Field(ge=0.0, le=1.0)
    negative_share_high: float = Field(ge=0.0, le=1.0)
    count: int = Field(ge=0, description="= mentions (the first version's name)", deprecated=True)


class TrendSeriesOut(BaseModel):
    theme: str
    label: str
    points: list[TrendPointOut]


class TrendOut(BaseModel):
    counting: str
    min_mentions: int = Field(ge=1)
    confidence: float = Field(gt=0.0, lt=1.0)
    weeks: list[str]
    series: list[TrendSeriesOut]
