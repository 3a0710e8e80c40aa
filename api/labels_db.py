"""Labels from the field: an analyst's corrected polarity (negative/neutral/positive) and/or emotion
for a stored item, the labelled items as data (``label<TAB>text`` with 0/1 while every label is binary,
what ``kesheng train --data`` validates; ``label<TAB>emotion<TAB>text`` with words once a label is
neutral or an emotion is given, what ``kesheng evaluate`` reads), and the stored items the model is
least sure about (to label next).

Only the stored, redacted text is ever exported: no label brings back what redaction removed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.db import is_postgresql
from api.errors import ConflictError, NotFoundError
from api.tables import Item, LabelRow
from nlp.files import spreadsheet_row
from nlp.schema import EMOTION_NAMES, EMOTIONS, LEGACY_EMOTIONS, EmotionLabel, Label

# What LabelIn accepts, as the stored word. 0/1 are the binary training labels (1 positive).
LABEL_VALUES: dict[str | int, Label] = {
    "negative": "negative",
    "neutral": "neutral",
    "positive": "positive",
    "负面": "negative",
    "中性": "neutral",
    "正面": "positive",
    0: "negative",
    1: "positive",
}
# The binary training file's numbers for the two labels it has.
LABEL_NUMBERS: dict[str, int] = {"negative": 0, "positive": 1}
# What LabelIn accepts as an emotion, as the stored English class.
EMOTION_VALUES: dict[str, EmotionLabel] = {
    **{label: label for label in EMOTIONS},
    **{EMOTION_NAMES[label]: label for label in EMOTIONS},
}
BINARY_COLUMNS = ("label", "text")
THREE_WAY_COLUMNS = ("label", "emotion", "text")


def stored_emotion(value: Any) -> EmotionLabel | None:
    """The English class of an emotion as a stored result holds it: English, or the Chinese name of
    results stored before emotions had English names (愤怒, 焦虑, …); None for none or an unknown one."""
    if not isinstance(value, str):
        return None
    if value in EMOTION_NAMES:
        return EMOTION_VALUES[value]
    return LEGACY_EMOTIONS.get(value)


@dataclass(frozen=True)
class Labelled:
    """A label with the item it is for."""

    label: LabelRow
    item: Item

    def to_dict(self) -> dict[str, Any]:
        """The LabelOut document."""
        sentiment = self.item.result.get("sentiment", {})
        emotion = self.label.emotion
        predicted_emotion = stored_emotion(self.item.result.get("emotion"))
        return {
            "id": self.label.id,
            "batch_id": self.item.batch_id,
            "item_id": self.item.item_id,
            "row": self.item.row_index,
            "label": self.label.label,
            "emotion": emotion,
            "emotion_name": None if emotion is None else EMOTION_NAMES[emotion],
            "text": self.item.result.get("text", ""),
            "predicted": self.item.label,
            "predicted_emotion": predicted_emotion,
            "predicted_emotion_name": None if predicted_emotion is None else EMOTION_NAMES[predicted_emotion],
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


def put_label(
    session: Session,
    item: Item,
    label: Label | None,
    key_id: int | None,
    note: str = "",
    emotion: EmotionLabel | None = None,
) -> Labelled:
    """Store `label` (negative/neutral/positive) and/or `emotion` (an English class) for `item`,
    replacing an earlier label of the same item whole (a new label without an emotion clears the old
    emotion). One statement (an upsert), so analysts labelling one item at once replace each other
    instead of one failing."""
    if label is None and emotion is None:
        raise ValueError("a label needs a polarity, an emotion, or both")
    values = {"label": label, "emotion": emotion, "key_id": key_id, "note": note, "created_at": datetime.now(UTC)}
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
    return total, [Labelled(label, item) for label, item in session.execute(query).all()]


@dataclass(frozen=True)
class LabelsExport:
    """What an export wrote: its rows and columns; `kind` "binary" (0/1 labels, what `kesheng train`
    reads) or "three-way" (words and emotions, what `kesheng evaluate` reads)."""

    rows: int
    columns: tuple[str, ...]
    empty_cells: int = 0  # three-way rows without a label or without an emotion

    @property
    def kind(self) -> Literal["binary", "three-way"]:
        return "binary" if self.columns == BINARY_COLUMNS else "three-way"


def export_labels(session: Session, path: Path, *, binary: bool = False) -> LabelsExport:
    """Write every labelled item with its stored text. While every label is negative or positive and
    no emotion is given: ``label<TAB>text`` with 0/1, the binary training format. Once a label is
    neutral or an emotion is given: ``label<TAB>emotion<TAB>text`` with the words (negative / neutral
    / positive, the English emotion class), a cell left empty where the analyst gave none.

    `binary`: always the binary format, of the negative and positive labels only (what binary
    training can use; neutral and emotion-only labels are left out)."""
    _, labelled = list_labels(session)
    rows = [(entry.label, training_text(entry.item)) for entry in labelled]
    rows = [(label, text) for label, text in rows if text]
    if binary:
        rows = [(label, text) for label, text in rows if label.label in LABEL_NUMBERS]
    three_way = not binary and any(label.label == "neutral" or label.emotion is not None for label, _ in rows)
    columns = THREE_WAY_COLUMNS if three_way else BINARY_COLUMNS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for label, text in rows:
            # The text is a customer's, and a TSV opens in Excel as readily as a CSV.
            if three_way:
                writer.writerow(spreadsheet_row([label.label or "", label.emotion or "", text]))
            else:
                writer.writerow(spreadsheet_row([LABEL_NUMBERS[str(label.label)], text]))
    empty = sum(label.label is None or label.emotion is None for label, _ in rows) if three_way else 0
    return LabelsExport(len(rows), columns, empty)


def write_labels_tsv(session: Session, path: Path, *, binary: bool = False) -> int:
    """`export_labels`, returning the rows written."""
    return export_labels(session, path, binary=binary).rows


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
    "BINARY_COLUMNS",
    "EMOTION_VALUES",
    "LABEL_NUMBERS",
    "LABEL_VALUES",
    "THREE_WAY_COLUMNS",
    "Labelled",
    "LabelsExport",
    "export_labels",
    "find_item",
    "least_sure",
    "list_labels",
    "put_label",
    "stored_emotion",
    "training_text",
    "write_labels_tsv",
]
