"""Labels from the field: an analyst's corrected label for a stored item, the labelled items as
training data (``label<TAB>text``, what ``kesheng train --data`` validates), and the stored items the
model is least sure about (to label next).

Only the stored, redacted text is ever exported: no label brings back what redaction removed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.db import is_postgresql
from api.errors import ConflictError, NotFoundError
from api.tables import Item, LabelRow

LABEL_NAMES = {0: "negative", 1: "positive"}
LABEL_VALUES = {"negative": 0, "positive": 1, 0: 0, 1: 1}


@dataclass(frozen=True)
class Labelled:
    """A label with the item it is for."""

    label: LabelRow
    item: Item

    def to_dict(self) -> dict[str, Any]:
        """The LabelOut document."""
        sentiment = self.item.result.get("sentiment", {})
        return {
            "id": self.label.id,
            "batch_id": self.item.batch_id,
            "item_id": self.item.item_id,
            "row": self.item.row_index,
            "label": LABEL_NAMES[self.label.label],
            "text": self.item.result.get("text", ""),
            "predicted": self.item.label,
            "negative_probability": self.item.negative_probability,
            "model_version": sentiment.get("model_version"),
            "note": self.label.note,
            "key_id": self.label.key_id,
            "created_at": self.label.created_at,
        }


def training_text(item: Item) -> str:
    """The stored redacted text as one training line (a call's customer turns joined; tabs and
    newlines folded, so the TSV stays one row per text)."""
    return " ".join(str(item.result.get("text", "")).split())


def find_item(session: Session, batch_id: int, item_id: str, row: int | None = None) -> Item:
    """The stored item `item_id` of batch `batch_id` (`row`, its 0-based row index, when the id repeats)."""
    query = select(Item).where(Item.batch_id == batch_id, Item.item_id == item_id)
    if row is not None:
        query = query.where(Item.row_index == row)
    items = session.scalars(query.order_by(Item.row_index).limit(10)).all()
    if not items:
        where = f" at row {row}" if row is not None else ""
        raise NotFoundError(f"no stored item {item_id!r}{where} in batch {batch_id} (is the batch analysed?)")
    if len(items) > 1:
        rows = ", ".join(str(i.row_index) for i in items)
        raise ConflictError(f"item id {item_id!r} is on rows {rows} of batch {batch_id}; give `row` to choose one")
    return items[0]


def put_label(session: Session, item: Item, label: int, key_id: int | None, note: str = "") -> Labelled:
    """Store `label` (0/1) for `item`, replacing an earlier label of the same item. One statement (an
    upsert), so analysts labelling one item at once replace each other instead of one failing."""
    values = {"label": label, "key_id": key_id, "note": note, "created_at": datetime.now(UTC)}
    insert = postgresql_insert if is_postgresql(session) else sqlite_insert
    upsert = insert(LabelRow).values(item_pk=item.id, **values)
    session.execute(upsert.on_conflict_do_update(index_elements=[LabelRow.item_pk], set_=values))
    query = select(LabelRow).where(LabelRow.item_pk == item.id).execution_options(populate_existing=True)
    return Labelled(session.scalars(query).one(), item)


def list_labels(session: Session, offset: int = 0, limit: int | None = None) -> tuple[int, list[Labelled]]:
    """The total and a page of labels, oldest first."""
    total = session.scalar(select(func.count()).select_from(LabelRow)) or 0
    query = select(LabelRow, Item).join(Item, Item.id == LabelRow.item_pk).order_by(LabelRow.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return total, [Labelled(label, item) for label, item in session.execute(query).tuples()]


def write_labels_tsv(session: Session, path: Path) -> int:
    """Write every labelled item as ``label<TAB>text`` with a header; returns the rows written."""
    _, labelled = list_labels(session)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["label", "text"])
        for entry in labelled:
            text = training_text(entry.item)
            if text:
                writer.writerow([entry.label.label, text])
                written += 1
    return written


def least_sure(session: Session, n: int) -> list[Item]:
    """The `n` stored items not yet labelled whose negative_probability is closest to 0.5."""
    labelled = select(LabelRow.item_pk)
    query = (
        select(Item)
        .where(Item.id.not_in(labelled))
        .order_by(func.abs(Item.negative_probability - 0.5), Item.id)
        .limit(n)
    )
    return list(session.scalars(query))


__all__ = [
    "LABEL_NAMES",
    "LABEL_VALUES",
    "Labelled",
    "find_item",
    "least_sure",
    "list_labels",
    "put_label",
    "training_text",
    "write_labels_tsv",
]
