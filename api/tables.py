"""The service's tables (SQLAlchemy 2 typed models). Schema changes go through Alembic (api/migrations).

Only redacted text is ever stored in `items`; the raw upload waits in `batch_uploads` until its batch
is analysed and is deleted in the same transaction that completes the batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone: stored as naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class ApiKey(Base):
    """An API key: only its sha256 is stored; `prefix` (public) finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # None: the key does not expire. Past it the key gets 401 (api.keys.verify_key).
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """One entry of the audit log (api.audit): who (`key_id`, an api_keys id; None: the CLI on the
    machine), did what (`action`), when (`at`), to which object (`target`, e.g. "batch:12").

    Append only: the database refuses an UPDATE or DELETE of a row (triggers of migration 0008).
    `detail` holds counts, flags and versions, never personal data (api.audit.record checks it).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_key_id_at", "key_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # Not a foreign key: an entry outlives anything done to the key's row.
    key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DashboardSession(Base):
    """A dashboard sign-in (api.dashboard.sessions): only the sha256 of the cookie's token is stored; the
    key's role and revocation are read through `key_id` on every request, so revoking the key ends it."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Batch(Base):
    """An uploaded file and its durable analysis job.

    status: queued → running → done (or failed). `processed` rows have committed items; a worker
    resumes from there. `lease_until`/`worker` say who holds a running batch until when.
    """

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str | None] = mapped_column(String(16), default=None)
    columns: Mapped[dict[str, Any]] = mapped_column(default=dict)
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    phase: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    themes: Mapped[list[Any]] = mapped_column(default=list)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class BatchChunk(Base):
    """One chunk of a batch run by Celery workers (api.distributed): rows `first` … `first + count - 1` of
    the batch's work (api.worker.batch_rows), a task of its own.

    status: pending → done (its items committed in the same transaction) or failed. `attempts` counts
    deliveries of its task (a worker lost mid-chunk included), `worker` the last node that took it, and
    `error` the last error. (batch_id, chunk) is the key a redelivered task finds its chunk done by.
    """

    __tablename__ = "batch_chunks"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    first: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(100), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime]


class Item(Base):
    """One analysed item: the redacted result (Result.to_dict) and the fields queries filter on."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("batch_id", "row_index", name="uq_items_batch_row"),
        Index("ix_items_date", "date"),
        Index("ix_items_top_theme", "top_theme"),
        # The dashboard links a follow-up or an alert's example (which name the item id) to its call.
        Index("ix_items_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    row_index: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(16))
    negative_probability: Mapped[float] = mapped_column(Float)
    date: Mapped[str | None] = mapped_column(String(10), default=None)
    top_theme: Mapped[str | None] = mapped_column(String(64), default=None)
    result: Mapped[dict[str, Any]]
    # Identifiers kept for call-backs (Result.protected), field → AES-GCM token (api.protected).
    protected: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class RowError(Base):
    """An individually bad row of a batch (empty text, bad date...), kept with the batch."""

    __tablename__ = "row_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    file: Mapped[str] = mapped_column(String(255))
    row: Mapped[int | None] = mapped_column(Integer, default=None)
    field: Mapped[str | None] = mapped_column(String(255), default=None)
    message: Mapped[str] = mapped_column(Text)


class AlertRow(Base):
    """An alert (nlp.alerts.Alert.to_dict in `data`) with the columns the list endpoint filters on."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    theme: Mapped[str | None] = mapped_column(String(64), default=None)
    department: Mapped[str] = mapped_column(String(100), default="")
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FollowupRow(Base):
    """An entry of the follow-up list (nlp.alerts.Followup.to_dict in `data`), one per item id, with the
    columns GET /v1/followups filters and orders on (due time, then the most negative)."""

    __tablename__ = "followups"
    __table_args__ = (Index("ix_followups_due", "due", "negative_probability"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(255))
    tier: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    theme: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    department: Mapped[str] = mapped_column(String(100), default="")
    negative_probability: Mapped[float] = mapped_column(Float)
    due: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class LabelRow(Base):
    """A corrected label for a stored item, given by an analyst (one per item; a new one replaces it)."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), unique=True)
    # negative / neutral / positive (nlp.schema.LABELS) and/or an emotion class (nlp.schema.EMOTIONS):
    # at least one of the two (api.labels_db.put_label).
    label: Mapped[str | None] = mapped_column(String(16), default=None)
    emotion: Mapped[str | None] = mapped_column(String(16), default=None)
    key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class TrainingJob(Base):
    """A retraining job run by the service: queued → running → done (a new version) or failed.

    `params` is what was asked (source, overrides...), `log` the tail of the run's log lines,
    `problems` the validation problems (file, row, field) of refused training data.
    """

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    phase: Mapped[str] = mapped_column(String(32), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    log: Mapped[list[Any]] = mapped_column(default=list)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[str | None] = mapped_column(String(64), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    problems: Mapped[list[Any]] = mapped_column(default=list)
    key_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class _HeatmapKey:
    """The key of a heatmap tally row: (dimension, value, top theme) in one period (see HeatmapCell)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(Text, default=None)
    theme: Mapped[str | None] = mapped_column(String(64), default=None)
    span: Mapped[str] = mapped_column(String(4))
    day: Mapped[str | None] = mapped_column(String(10), default=None)
    week: Mapped[str | None] = mapped_column(String(8), default=None)


class HeatmapCell(_HeatmapKey, Base):
    """Tallies of the heatmap and trend, added as each batch completes (api.aggregates): the aspect
    mentions of one (dimension, value, theme) in one period (nlp.heatmap.mentions_of), the distinct items
    they come from, how many mentions are negative and the sum of their scores.

    `span` says what the period is: "day" (`day`, NULL for undated items; `week` its ISO week), "week"
    (`week`; dated items only) or "all" (every item). dimension "*" holds every mention once per span
    (the trend, the week column, the heatmap of a dimension no item has); every other dimension does too,
    with `value` NULL where the item has none (the unknown column). `theme` NULL: row unassigned. An item
    is in `items` of each row its mentions are in, once, so the items of a row's periods add up.
    """

    __tablename__ = "heatmap_cells"
    __table_args__ = (Index("ix_heatmap_cells_period", "dimension", "span", "week", "day"),)

    mentions: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    negatives: Mapped[int] = mapped_column(Integer)
    score_sum: Mapped[float] = mapped_column(Float)


class HeatmapExample(_HeatmapKey, Base):
    """The quotes of a heatmap_cells row: the units (aspect texts) of its most negative mentions, distinct
    texts (same key columns; at most HeatmapConfig.examples_per_cell, ranked by negative probability,
    then item id, then items.id, then `unit`, the aspect's place in its item)."""

    __tablename__ = "heatmap_examples"
    __table_args__ = (Index("ix_heatmap_examples_period", "dimension", "span", "week", "day"),)

    negative_probability: Mapped[float] = mapped_column(Float)
    item_id: Mapped[str] = mapped_column(Text)
    item_pk: Mapped[int] = mapped_column(Integer)
    unit: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


class HeatmapDimension(Base):
    """A metadata key the aggregates know. `wide`: it took more distinct values than a heatmap can show
    (a per-item id, free text); such a dimension is not tallied and its heatmap is read from the items."""

    __tablename__ = "heatmap_dimensions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    wide: Mapped[bool] = mapped_column(Boolean, default=False)


class HeatmapBatchDay(Base):
    """Which batches the aggregates hold (a batch is added once) and how many of their items are of each
    day (`day` NULL: undated): the items a heatmap counts, and the batches whose discovered themes it
    lists."""

    __tablename__ = "heatmap_batch_days"
    __table_args__ = (Index("ix_heatmap_batch_days_day", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    day: Mapped[str | None] = mapped_column(String(10), default=None)
    items: Mapped[int] = mapped_column(Integer)


class DashboardDay(Base):
    """The dashboard's figures (api.dashboard.tallies) of one completed batch's items of one day (`day`
    NULL: undated; `week` its ISO week) in one segment (`dimension` "*" and `value` NULL: every item;
    else a segment dimension and its value): how many, how many read negative, their NPS split (answers
    with an NPS: 9-10, 7-8, 0-6) and their CSAT sum and count. Written with the heatmap aggregates when
    the batch completes."""

    __tablename__ = "dashboard_days"
    __table_args__ = (Index("ix_dashboard_days_segment", "dimension", "value", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    day: Mapped[str | None] = mapped_column(String(10), default=None)
    week: Mapped[str | None] = mapped_column(String(8), default=None)
    dimension: Mapped[str] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(Text, default=None)
    items: Mapped[int] = mapped_column(Integer)
    negatives: Mapped[int] = mapped_column(Integer)
    promoters: Mapped[int] = mapped_column(Integer)
    passives: Mapped[int] = mapped_column(Integer)
    detractors: Mapped[int] = mapped_column(Integer)
    csat_sum: Mapped[float] = mapped_column(Float)
    csat_count: Mapped[int] = mapped_column(Integer)
