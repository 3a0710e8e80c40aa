"""Request and response schemas (…In / …Out), with the limits the API promises in its OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000
MAX_TURNS = 200
MAX_NOTE_CHARS = 2000

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Label = Literal["negative", "neutral", "positive"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- real-time sentiment -----------------------------------------------------------------------------
class TextsIn(_In):
    """Texts to score, 1 to 64 of them, each 1 to 2,000 characters."""

    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS, examples=[["快递太慢了，客服也不回消息"]])


class TurnIn(_In):
    speaker: Annotated[str, StringConstraints(min_length=1, max_length=20)] = Field(
        description="agent or customer; 客服/坐席/顾客/客户/用户 are understood", examples=["客户"]
    )
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


class TranscriptIn(_In):
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


# --- stored results ----------------------------------------------------------------------------------
class SentimentValueOut(BaseModel):
    label: Label
    score: float
    negative_probability: float
    model_version: str


class TurnOut(BaseModel):
    speaker: Literal["agent", "customer"]
    text: str
    sentiment: SentimentValueOut
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
    emotion: str | None
    explanation: list[CueOut]
    keywords: list[str]
    themes: list[ThemeRefOut]
    redactions: dict[str, int]
    meta: dict[str, Any]


class ResultsPageOut(BaseModel):
    batch_id: int
    total: int
    offset: int
    limit: int
    items: list[ResultOut]


# --- batches -----------------------------------------------------------------------------------------
BatchStatus = Literal["queued", "running", "done", "failed"]


class BatchCreatedOut(BaseModel):
    id: int
    status: BatchStatus
    duplicate: bool = Field(description="true when this exact file was uploaded before (same sha256)")
    total: int


class RowErrorOut(BaseModel):
    file: str
    row: int | None
    field: str | None
    message: str


class ThemeOut(BaseModel):
    id: str
    label: str
    keywords: list[str]
    department: str
    discovered: bool = False


class BatchCountsOut(BaseModel):
    items: int
    row_errors: int
    labels: dict[str, int]


class BatchOut(BaseModel):
    id: int
    filename: str
    sha256: str
    status: BatchStatus
    phase: str = Field(description="queued, scoring, themes, done or failed")
    total: int = Field(description="items to analyse (rows that could be read)")
    processed: int
    progress: float = Field(ge=0.0, le=1.0)
    counts: BatchCountsOut
    errors: list[RowErrorOut] = Field(description="individually bad rows (up to errors_limit)")
    error: str | None = Field(description="why the batch failed, if it did")
    read: dict[str, Any] = Field(description="how the file was read: format, encoding, columns, inference")
    themes: list[ThemeOut]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


# --- heatmap and trend -------------------------------------------------------------------------------
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


# --- alerts ------------------------------------------------------------------------------------------
AlertStatus = Literal["open", "acknowledged", "resolved", "expired"]


class WindowOut(BaseModel):
    start: str
    end: str


class ExampleOut(BaseModel):
    id: str
    text: str
    negative_probability: float


class EvidenceOut(BaseModel):
    count: int
    negatives: int
    share: float
    threshold: float
    lower_bound: float | None = None
    examples: list[ExampleOut]
    baseline: float | None = None
    previous_count: int | None = None
    previous_negatives: int | None = None
    previous_share: float | None = None
    p_value: float | None = None
    reason: str


class HistoryOut(BaseModel):
    time: str
    status: AlertStatus
    note: str


class AlertOut(BaseModel):
    id: str
    rule: str
    kind: Literal["share", "rise", "severe"]
    theme: str | None
    segment: dict[str, str]
    window: WindowOut
    evidence: EvidenceOut
    department: str
    deadline: str
    status: AlertStatus
    created_at: str
    updated_at: str
    history: list[HistoryOut]
    deliveries: list[dict[str, Any]]
    also_matched: list[str]
    escalated: bool
    escalated_to: str | None
    item_id: str | None


class AlertsOut(BaseModel):
    total: int
    items: list[AlertOut]


class AlertActionIn(_In):
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)] = Field(
        default="", description="who acknowledges / what was done (required to resolve)"
    )


# --- keys and health ---------------------------------------------------------------------------------
Role = Literal["service", "analyst", "admin"]


class KeyIn(_In):
    role: Role
    name: Annotated[str, StringConstraints(max_length=100)] = ""


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="shown once; only its hash is stored")


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    model_version: str | None
    database: Literal["ok", "unreachable"]
    worker: Literal["running", "stopped", "off"]
    model_error: str | None = Field(
        default=None,
        description="why the registry's newly active version could not be loaded; the version named in "
        "model_version keeps serving, so the service stays ready",
    )


class Problem(BaseModel):
    """An error (RFC 9457 problem+json). Input errors also carry file, row and field."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


# --- models, labels and training jobs ------------------------------------------------------------------
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


class PromoteIn(_In):
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


class LabelIn(_In):
    """A corrected label for a stored item, named as in the batch results: batch id and item id."""

    batch_id: int = Field(ge=1, le=2**31)
    item_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    row: int | None = Field(default=None, ge=0, le=2**31, description="0-based row, when the item id repeats")
    label: Literal["negative", "positive", 0, 1] = Field(description="negative (0) or positive (1)")
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)] = ""


class LabelOut(BaseModel):
    id: int
    batch_id: int
    item_id: str
    row: int
    label: Literal["negative", "positive"]
    text: str = Field(description="the stored (redacted) text")
    predicted: str = Field(description="the model's label when the item was analysed")
    negative_probability: float
    model_version: str | None
    note: str
    key_id: int | None
    created_at: datetime


class LabelsOut(BaseModel):
    total: int
    items: list[LabelOut]


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
