"""Retraining jobs run by the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

TrainingStatus = Literal["queued", "running", "done", "failed"]


class TrainingJobCreatedOut(BaseModel):
    id: int
    status: TrainingStatus


class TrainingProblemOut(BaseModel):
    severity: Literal["error", "warning"]
    kind: str
    file: str
    row: int | None
    field: str | None
    message: str


class TrainingProgressOut(BaseModel):
    step: int | None
    total_steps: int | None
    fraction: float | None


class TrainingJobOut(BaseModel):
    id: int
    status: TrainingStatus
    phase: str = Field(description="queued, validating, preparing, training, comparing, done or failed")
    params: dict[str, Any]
    progress: TrainingProgressOut
    log: list[str] = Field(description="the last lines of the job's log")
    version: str | None = Field(description="the registered version (not promoted)")
    result: dict[str, Any] | None = Field(description="validation summary and the comparison with the active one")
    error: str | None
    problems: list[TrainingProblemOut] = Field(description="why the training data was refused: file, row, field")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
