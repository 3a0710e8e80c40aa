"""POST/GET /v1/labels: an analyst corrects the label of a stored item; `kesheng labels export` turns
the labels into a training file that validates; `kesheng labels suggest` lists what to label next."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.analysis import Analyzer
from api.db import make_engine, migrate, session_factory
from api.labels_db import find_item, put_label
from api.settings import Settings
from api.store import accept_upload
from api.tables import Item, LabelRow
from api.worker import Worker
from kesheng.cli import app
from models.evaluate import read_labelled
from tests.api.conftest import TRANSCRIPTS_JSONL, Service, survey_csv
from training.validate import ValidationConfig, validate

runner = CliRunner()


def upload(service: Service, name: str, content: bytes, headers: dict[str, str]) -> int:
    response = service.client.post("/v1/batches", files={"file": (name, content)}, headers=headers)
    assert response.status_code == 202, response.text
    batch_id: int = response.json()["id"]
    assert service.wait(batch_id, headers)["status"] == "done"
    return batch_id


def label(service: Service, headers: dict[str, str], **body: Any) -> Any:
    return service.client.post("/v1/labels", json=body, headers=headers)


def test_label_round_trip_to_a_training_file(service: Service, tmp_path: Path) -> None:
    analyst = service.key("analyst")
    surveys = upload(service, "回访.csv", survey_csv(), analyst)
    calls = upload(service, "calls.jsonl", TRANSCRIPTS_JSONL, analyst)

    first = label(service, analyst, batch_id=surveys, item_id="S01", label="positive", note="误判")
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["item_id"], body["row"], body["label"], body["note"]) == ("S01", 0, "positive", "误判")
    # The stored text is the redacted one: the phone number never comes back through a label.
    assert "13912345678" not in body["text"] and "[手机号]" in body["text"]
    assert body["predicted"] == "negative" and body["model_version"].startswith("lexicon")
    # A second label for the same item replaces the first.
    assert label(service, analyst, batch_id=surveys, item_id="S01", label=0).json()["label"] == "negative"
    assert label(service, analyst, batch_id=surveys, item_id="S02", label=1).status_code == 200
    assert label(service, analyst, batch_id=calls, item_id="c1", label="negative").status_code == 200
    listed = service.client.get("/v1/labels", headers=analyst).json()
    assert listed["total"] == 3
    assert [(i["item_id"], i["label"]) for i in listed["items"]] == [
        ("S01", "negative"),
        ("S02", "positive"),
        ("c1", "negative"),
    ]

    out = tmp_path / "labels.tsv"
    data_dir = str(service.services.settings.data_dir)
    exported = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", data_dir])
    assert exported.exit_code == 0, exported.output
    assert "3 labelled text(s) written" in exported.output
    rows = read_labelled(out)
    texts = dict(zip(rows.texts, rows.labels, strict=True))
    assert texts[body["text"]] == 0 and texts["安装师傅很专业，非常满意"] == 1
    # A call is its customer turns, on one line.
    assert texts["漏水了，打了三次电话都没人来修，太失望了"] == 0
    report = validate([out], {}, ValidationConfig(min_rows=3, min_label_share=0.0))
    assert report.errors == () and len(report.examples) == 3

    suggested = runner.invoke(app, ["labels", "suggest", "3", "--data-dir", data_dir])
    assert suggested.exit_code == 0, suggested.output
    lines = suggested.output.strip().splitlines()
    assert lines[0] == "batch_id\titem_id\tnegative_probability\ttext"
    ids = [line.split("\t")[1] for line in lines[1:]]
    assert len(ids) == 3 and not {"S01", "S02", "c1"} & set(ids)
    distances = [abs(float(line.split("\t")[2]) - 0.5) for line in lines[1:]]
    assert distances == sorted(distances)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"item_id": "S99", "label": "negative"}, 404, "no stored item 'S99'"),
        ({"item_id": "S01", "label": "negative", "row": 5}, 404, "at row 5"),
        ({"item_id": "S01", "label": "neutral"}, 422, "label"),
        ({"item_id": "S01", "label": 2}, 422, "label"),
        ({"item_id": "", "label": 1}, 422, "item_id"),
    ],
)
def test_bad_labels_are_refused(service: Service, body: dict[str, Any], status: int, detail: str) -> None:
    analyst = service.key("analyst")
    batch_id = upload(service, "回访.csv", survey_csv(), analyst)
    response = label(service, analyst, batch_id=batch_id, **body)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert service.client.get("/v1/labels", headers=analyst).json()["total"] == 0


def test_unknown_batch_and_roles(service: Service) -> None:
    assert label(service, service.key("analyst"), batch_id=7, item_id="S01", label=1).status_code == 404
    assert label(service, service.key("service"), batch_id=7, item_id="S01", label=1).status_code == 403
    assert service.client.get("/v1/labels", headers=service.key("service")).status_code == 403


def label_one_item_at_once(factory: sessionmaker[Session], analyzer: Analyzer) -> None:
    """Four analysts (own connections) read one stored item, then all label it at the same moment:
    none fails, and one label is left (the database's, SQLite or PostgreSQL, in `factory`)."""
    upload = accept_upload(
        factory, survey_csv(), "survey.csv", kind=None, columns=None, max_rows=100, max_item_chars=1000
    )
    batch_id = upload.batch.id
    assert Worker(factory, analyzer, Settings(data_dir=Path(tempfile.gettempdir()), lexicon=True)).run_once()
    with factory() as session:
        query = select(Item.item_id).where(Item.batch_id == batch_id).order_by(Item.row_index)
        item_id = session.scalars(query).first()
    assert item_id is not None
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(4)]
    together = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def label_it(n: int) -> None:
        try:
            with session_factory(engines[n])() as session, session.begin():
                item = find_item(session, batch_id, item_id)
                together.wait(30)  # all four have read the item; now all four write its label
                put_label(session, item, n % 2, None, f"第{n}位分析员：客户其实是在抱怨退款慢")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=label_it, args=(n,)) for n in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    with factory() as session:
        labels = session.scalars(select(LabelRow)).all()
    assert len(labels) == 1
    # One analyst's label and note together, not one's label with another's note.
    (stored,) = labels
    assert stored.note.endswith("位分析员：客户其实是在抱怨退款慢") and stored.label == int(stored.note[1]) % 2


def test_analysts_labelling_one_item_at_once_take_turns(tmp_path: Path, analyzer: Analyzer) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kesheng.db'}")
    migrate(engine)
    label_one_item_at_once(session_factory(engine), analyzer)
    engine.dispose()
