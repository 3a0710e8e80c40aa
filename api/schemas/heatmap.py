"""The demand heatmap and the weekly trend (nlp.heatmap's to_dict forms)."""

from __future__ import annotations

from pydantic import BaseModel


class HeatmapThemeOut(BaseModel):
    id: str
    label: str
    keywords: list[str]
    department: str


class CellOut(BaseModel):
    theme: str
    column: str
    count: int
    negative_share: float
    mean_score: float
    priority: float
    examples: list[str]


class HeatmapOut(BaseModel):
    dimension: str
    items: int
    counting: str
    priority_formula: str
    prior_items: float
    overall_negative_share: float
    themes: list[HeatmapThemeOut]
    columns: list[str]
    cells: list[CellOut]


class TrendPointOut(BaseModel):
    week: str
    count: int
    negative_share: float


class TrendSeriesOut(BaseModel):
    theme: str
    label: str
    points: list[TrendPointOut]


class TrendOut(BaseModel):
    weeks: list[str]
    series: list[TrendSeriesOut]
