"""Labels from the field: an analyst corrects the label of a stored item; `kesheng labels export` and
training jobs with `source=labels` turn them into training data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AnalystKey, ServicesDep, SessionDep
from api.labels_db import EMOTION_VALUES, LABEL_VALUES, find_item, list_labels, put_label
from api.routes import problems
from api.schemas import LabelIn, LabelOut, LabelsOut

router = APIRouter(prefix="/v1/labels", tags=["labels"])


@router.post("", response_model=LabelOut, responses=problems(401, 403, 404, 409, 422))
def create_label(body: LabelIn, session: SessionDep, services: ServicesDep, key: AnalystKey) -> dict[str, Any]:
    """Store the corrected polarity (negative/neutral/positive, or 0/1) and/or emotion (English or
    Chinese, stored in English) of a stored item, named by its batch and its item id as in the batch
    results. A new label for the same item replaces the old one whole; personal data in the note is redacted."""
    label = None if body.label is None else LABEL_VALUES[body.label]
    emotion = None if body.emotion is None else EMOTION_VALUES[body.emotion]
    with session.begin():
        item = find_item(session, body.batch_id, body.item_id, body.row)
        labelled = put_label(session, item, label, key.key_id, services.analyzer.redact(body.note), emotion)
        return labelled.to_dict()


@router.get("", response_model=LabelsOut, responses=problems(401, 403, 422))
def get_labels(
    session: SessionDep,
    _key: AnalystKey,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The labels given so far, oldest first, with the stored text and the model's prediction."""
    total, labelled = list_labels(session, offset, limit)
    return {"total": total, "items": [entry.to_dict() for entry in labelled]}
