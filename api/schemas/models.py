"""The model registry: versions, what is serving, promotion (with the gate's comparison) and rollback."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.schemas.base import StrictIn


class ModelVersionOut(BaseModel):
    version: str
    active: bool
    builtin: bool = Field(description="the committed default model (models/default)")
    parent_version: str | None = Field(description="the version it was fine-tuned from")
    created: str | None
    registered: str | None
    metrics: dict[str, dict[str, Any]] = Field(description="per evaluation set, as exported")
    training_data: dict[str, Any]
    has_weights: bool = Field(description="a retrain can start from this version's weights")


class ServingOut(BaseModel):
    model_version: str = Field(description="the version this service scores with now")
    follows_registry: bool = Field(description="false when pinned to a model folder or the lexicon")
    last_error: str | None = Field(description="why the newly active version could not be loaded, if so")


class ModelsOut(BaseModel):
    active: str
    generation: int = Field(description="grows with every promotion and rollback")
    serving: ServingOut
    versions: list[ModelVersionOut]


class PromoteIn(StrictIn):
    force: bool = Field(default=False, description="promote even when the gate refuses")


class MetricDeltaOut(BaseModel):
    golden_set: str
    metric: str
    candidate: float
    baseline: float
    delta_points: float
    n: int
    within_margin: bool


class ComparisonOut(BaseModel):
    candidate: str
    baseline: str
    margin_points: float
    passed: bool
    deltas: list[MetricDeltaOut]


class PromotionOut(BaseModel):
    version: str
    previous: str
    promoted: bool
    forced: bool
    reason: str
    comparison: ComparisonOut | None
    serving: ServingOut


class RollbackOut(BaseModel):
    version: str = Field(description="the active version now")
    previous: str
    generation: int
    serving: ServingOut
