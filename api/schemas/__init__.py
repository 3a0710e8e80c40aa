"""Request and response schemas (…In / …Out), with the limits the API promises in its OpenAPI document.

One module per resource; every name is re-exported here, so routes import from ``api.schemas``.
"""

from __future__ import annotations

from api.schemas.alerts import (
    AlertActionIn,
    AlertOut,
    AlertsOut,
    AlertStatus,
    EvidenceOut,
    ExampleOut,
    HistoryOut,
    WindowOut,
)
from api.schemas.base import MAX_NOTE_CHARS, MAX_TEXT_CHARS, MAX_TEXTS, MAX_TURNS, Label, StrictIn, Text
from api.schemas.batches import BatchCountsOut, BatchCreatedOut, BatchOut, BatchStatus, RowErrorOut, ThemeOut
from api.schemas.followups import FollowupAspectOut, FollowupOut, FollowupsOut
from api.schemas.health import HealthOut, Problem, ReadyOut
from api.schemas.heatmap import CellOut, HeatmapOut, HeatmapThemeOut, TrendOut, TrendPointOut, TrendSeriesOut
from api.schemas.keys import KeyCreatedOut, KeyIn, KeyOut, Role
from api.schemas.labels import LabelIn, LabelOut, LabelsOut
from api.schemas.models import (
    ComparisonOut,
    MetricDeltaOut,
    ModelsOut,
    ModelVersionOut,
    PromoteIn,
    PromotionOut,
    RollbackOut,
    ServingOut,
)
from api.schemas.results import ResultOut, ResultsPageOut, SentimentValueOut, ThemeRefOut, TurnOut
from api.schemas.sentiment import CueOut, ScoreOut, SentimentOut, TextsIn, TranscriptIn, TurnIn, TurnScoreOut
from api.schemas.training import (
    TrainingJobCreatedOut,
    TrainingJobOut,
    TrainingProblemOut,
    TrainingProgressOut,
    TrainingStatus,
)

__all__ = [
    "MAX_NOTE_CHARS",
    "MAX_TEXTS",
    "MAX_TEXT_CHARS",
    "MAX_TURNS",
    "AlertActionIn",
    "AlertOut",
    "AlertStatus",
    "AlertsOut",
    "BatchCountsOut",
    "BatchCreatedOut",
    "BatchOut",
    "BatchStatus",
    "CellOut",
    "ComparisonOut",
    "CueOut",
    "EvidenceOut",
    "ExampleOut",
    "FollowupAspectOut",
    "FollowupOut",
    "FollowupsOut",
    "HealthOut",
    "HeatmapOut",
    "HeatmapThemeOut",
    "HistoryOut",
    "KeyCreatedOut",
    "KeyIn",
    "KeyOut",
    "Label",
    "LabelIn",
    "LabelOut",
    "LabelsOut",
    "MetricDeltaOut",
    "ModelVersionOut",
    "ModelsOut",
    "Problem",
    "PromoteIn",
    "PromotionOut",
    "ReadyOut",
    "ResultOut",
    "ResultsPageOut",
    "Role",
    "RollbackOut",
    "RowErrorOut",
    "ScoreOut",
    "SentimentOut",
    "SentimentValueOut",
    "ServingOut",
    "StrictIn",
    "Text",
    "TextsIn",
    "ThemeOut",
    "ThemeRefOut",
    "TrainingJobCreatedOut",
    "TrainingJobOut",
    "TrainingProblemOut",
    "TrainingProgressOut",
    "TrainingStatus",
    "TranscriptIn",
    "TrendOut",
    "TrendPointOut",
    "TrendSeriesOut",
    "TurnIn",
    "TurnOut",
    "TurnScoreOut",
    "WindowOut",
]
