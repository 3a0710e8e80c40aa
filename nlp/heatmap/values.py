"""The heatmap and the trend as values: cells and trend points with their counts, negative share and
its interval, and the JSON forms (``to_dict``) the CLI writes and the service returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nlp.config import HeatmapConfig
from nlp.themes import Theme

COUNTING = (
    "aspect mentions: each aspect with a theme counts one mention in its theme's row, with its own polarity; "
    "items = distinct answers of a cell (two mentions of one theme in an answer: 2 mentions, 1 item); an "
    "answer without a themed aspect counts one mention, with its own polarity, in row 'unassigned'; answers "
    "without the dimension are in the unknown column; count = mentions (kept for v1 clients)"
)
PRIORITY_FORMULA = "mentions * (negatives + m * p) / (mentions + m); p = overall negative share, m = prior_items"
INTERVAL = "Wilson score interval of the negative share of the mentions"


@dataclass(frozen=True)
class Cell:
    """One non-empty (theme, column) cell of a heatmap."""

    theme: str
    column: str
    mentions: int
    items: int
    negatives: int
    negative_share: float
    negative_share_low: float
    negative_share_high: float
    mean_score: float
    priority: float
    sparse: bool
    examples: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """The mentions (the name of the first API version, when each item counted once)."""
        return self.mentions

    def to_dict(self) -> dict[str, Any]:
        return {
            "theme": self.theme,
            "column": self.column,
            **_counts(self),
            "mean_score": round(self.mean_score, 4),
            "priority": round(self.priority, 3),
            "sparse": self.sparse,
            "examples": list(self.examples),
            "count": self.mentions,
        }


@dataclass(frozen=True)
class Heatmap:
    """Themes × columns of one dimension; ``cells`` holds only the non-empty cells, row by row, each
    row's cells in column order."""

    dimension: str
    themes: tuple[Theme, ...]
    columns: tuple[str, ...]
    cells: tuple[Cell, ...]
    items: int
    mentions: int
    negative_share: float
    prior_items: float
    min_mentions: int
    confidence: float

    def cell(self, theme: str, column: str) -> Cell | None:
        return next((c for c in self.cells if c.theme == theme and c.column == column), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "items": self.items,
            "mentions": self.mentions,
            "counting": COUNTING,
            "priority_formula": PRIORITY_FORMULA,
            "prior_items": self.prior_items,
            "interval": INTERVAL,
            "confidence": self.confidence,
            "min_mentions": self.min_mentions,
            "overall_negative_share": round(self.negative_share, 4),
            "themes": [
                {"id": t.id, "label": t.label, "keywords": list(t.keywords), "department": t.department}
                for t in self.themes
            ],
            "columns": list(self.columns),
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class TrendPoint:
    """One theme's mentions in one ISO week."""

    week: str
    mentions: int
    items: int
    negatives: int
    negative_share: float
    negative_share_low: float
    negative_share_high: float

    @property
    def count(self) -> int:
        """The mentions (the first API version's name)."""
        return self.mentions

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            **_counts(self),
            "count": self.mentions,
        }


@dataclass(frozen=True)
class Trend:
    """Negative share of each theme's mentions per ISO week (only weeks in which the theme has some)."""

    weeks: tuple[str, ...]
    series: Mapping[str, tuple[TrendPoint, ...]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    min_mentions: int = HeatmapConfig.min_mentions
    confidence: float = HeatmapConfig.confidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "counting": COUNTING,
            "min_mentions": self.min_mentions,
            "confidence": self.confidence,
            "weeks": list(self.weeks),
            "series": [
                {
                    "theme": theme,
                    "label": self.labels.get(theme, theme),
                    "points": [p.to_dict() for p in points],
                }
                for theme, points in self.series.items()
            ],
        }


def _counts(counted: Cell | TrendPoint) -> dict[str, Any]:
    """The JSON of what a cell and a trend point share: the counts and the negative share with its interval."""
    return {
        "mentions": counted.mentions,
        "items": counted.items,
        "negatives": counted.negatives,
        "negative_share": round(counted.negative_share, 4),
        "negative_share_low": round(counted.negative_share_low, 4),
        "negative_share_high": round(counted.negative_share_high, 4),
    }


__all__ = ["COUNTING", "INTERVAL", "PRIORITY_FORMULA", "Cell", "Heatmap", "Trend", "TrendPoint"]
