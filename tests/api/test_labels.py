"""POST/GET /v1/labels: an analyst corrects the label of a stored item (negative/neutral/positive
and/or an emotion); `kesheng labels export` turns the labels into a training file that validates (or,
with neutral labels or emotions, a three-way file that `kesheng evaluate` reads); `kesheng labels
suggest` lists what to label next; migration 0004 keeps the 0/1 labels stored before it."""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.analysis import Analyzer
from api.db import MIGRATIONS, make_engine, migrate, session_factory
from api.labels_db import find_item, put_label
from api.settings import Settings
from api.store import accept_upload
from api.tables import Base, Batch, Item, LabelRow
from api.worker import Worker
from kesheng.cli import app
from models.evaluate import read_labelled
from nlp.schema import EmotionLabel, Label, Result, Sentiment
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
        # 2 is positive in a 0/1/2 file but a third label to anyone thinking of 0/1: words only.
        ({"item_id": "S01", "label": 2}, 422, "2 is ambiguous"),
        ({"item_id": "S01", "label": "2"}, 422, "2 is ambiguous"),
        ({"item_id": "S01", "label": True}, 422, "label must be negative, neutral or positive"),
        ({"item_id": "S01", "label": "Negative"}, 422, "label"),
        ({"item_id": "S01"}, 422, "give a label (negative/neutral/positive, or 0/1), an emotion"),
        ({"item_id": "S01", "label": None, "emotion": None}, 422, "give a label"),
        ({"item_id": "S01", "emotion": "厌恶"}, 422, "emotion"),
        ({"item_id": "S01", "label": "negative", "emotion": "生气"}, 422, "emotion"),
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
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="kesheng-labels-")), lexicon=True)
    upload = accept_upload(
        factory, settings, survey_csv(), "survey.csv", kind=None, columns=None, max_rows=100, max_item_chars=1000
    )
    batch_id = upload.batch.id
    assert Worker(factory, analyzer, settings).run_once()
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
                label: Label = "positive" if n % 2 else "negative"
                put_label(session, item, label, None, f"第{n}位分析员：客户其实是在抱怨退款慢", "angry")
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
    assert stored.note.endswith("位分析员：客户其实是在抱怨退款慢")
    assert stored.label == ("negative", "positive")[int(stored.note[1]) % 2] and stored.emotion == "angry"


def test_analysts_labelling_one_item_at_once_take_turns(tmp_path: Path, analyzer: Analyzer) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'kesheng.db'}")
    migrate(engine)
    label_one_item_at_once(session_factory(engine), analyzer)
    engine.dispose()


# Survey answers for three-way labels: a question (neutral), an angry complaint, a happy one.
THREE_WAY_ROWS = [
    ("Q1", "请问什么时候发货", "黄金", "微信", "华南", "净水器", "2026-11-03", "7"),
    ("Q2", "太慢了气死我了", "钻石", "APP", "华东", "净水器", "2026-11-04", "0"),
    ("Q3", "安装师傅很专业，非常满意", "黄金", "微信", "华南", "净水器", "2026-11-05", "10"),
    ("Q4", "物流太慢了，包装也破了", "基础", "APP", "华东", "净水器", "2026-11-05", "3"),
]


def test_neutral_labels_and_emotions_are_stored_and_exported_three_way(
    three_way_service: Service, tmp_path: Path
) -> None:
    service = three_way_service
    analyst = service.key("analyst")
    batch = upload(service, "回访.csv", survey_csv(THREE_WAY_ROWS), analyst)

    question = label(service, analyst, batch_id=batch, item_id="Q1", label="neutral")
    assert question.status_code == 200, question.text
    body = question.json()
    assert (body["label"], body["emotion"], body["emotion_name"]) == ("neutral", None, None)
    assert body["text"] == "请问什么时候发货"
    # What the model said at analysis time, to compare with the analyst's reading.
    assert (body["predicted"], body["predicted_emotion"], body["predicted_emotion_name"]) == (
        "neutral",
        "neutral",
        "中性",
    )

    # The emotion given by its Chinese name is stored as the English class.
    angry = label(service, analyst, batch_id=batch, item_id="Q2", label="negative", emotion="愤怒").json()
    assert (angry["label"], angry["emotion"], angry["emotion_name"]) == ("negative", "angry", "愤怒")
    assert (angry["predicted"], angry["predicted_emotion"]) == ("negative", "angry")
    # An emotion alone is a label too; the polarity stays empty.
    happy = label(service, analyst, batch_id=batch, item_id="Q3", emotion="happy").json()
    assert (happy["label"], happy["emotion"], happy["emotion_name"]) == (None, "happy", "满意")
    # Chinese polarity words and the old 0/1 are read as the words.
    slow = label(service, analyst, batch_id=batch, item_id="Q4", label="负面", emotion="sad").json()
    assert (slow["label"], slow["emotion"], slow["emotion_name"]) == ("negative", "sad", "失望")
    assert label(service, analyst, batch_id=batch, item_id="Q4", label=0, emotion="失望").json()["label"] == "negative"

    listed = service.client.get("/v1/labels", headers=analyst).json()
    assert [(i["item_id"], i["label"], i["emotion"]) for i in listed["items"]] == [
        ("Q1", "neutral", None),
        ("Q2", "negative", "angry"),
        ("Q3", None, "happy"),
        ("Q4", "negative", "sad"),
    ]

    out = tmp_path / "labels.tsv"
    data_dir = str(service.services.settings.data_dir)
    exported = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", data_dir])
    assert exported.exit_code == 0, exported.output
    assert "4 labelled text(s) written" in exported.output and "(label<TAB>emotion<TAB>text)" in exported.output
    # Two rows leave a cell empty, which kesheng evaluate would refuse: the command says so.
    assert "2 row(s) have no label or no emotion" in exported.output and "kesheng train" not in exported.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "label\temotion\ttext",
        "neutral\t\t请问什么时候发货",
        "negative\tangry\t太慢了气死我了",
        "\thappy\t安装师傅很专业，非常满意",
        "negative\tsad\t物流太慢了，包装也破了",
    ]


def test_a_three_way_export_with_every_cell_filled_reads_as_evaluation_data(
    three_way_service: Service, tmp_path: Path
) -> None:
    service = three_way_service
    analyst = service.key("analyst")
    batch = upload(service, "回访.csv", survey_csv(THREE_WAY_ROWS[:3]), analyst)
    for item_id, polarity, emotion in (("Q1", "neutral", "中性"), ("Q2", 0, "angry"), ("Q3", "positive", "满意")):
        response = label(service, analyst, batch_id=batch, item_id=item_id, label=polarity, emotion=emotion)
        assert response.status_code == 200, response.text
    out = tmp_path / "labels.tsv"
    data_dir = str(service.services.settings.data_dir)
    exported = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", data_dir])
    assert exported.exit_code == 0, exported.output
    assert f"evaluate with: kesheng evaluate --data {out}" in exported.output
    rows = read_labelled(out)
    assert rows.label_kind == "three-way" and rows.texts == (
        "请问什么时候发货",
        "太慢了气死我了",
        "安装师傅很专业，非常满意",
    )
    assert rows.polarity == (1, 0, 2)  # negative 0, neutral 1, positive 2 (nlp.schema.LABELS)
    assert rows.emotions == (5, 0, 4)  # neutral, angry, happy (nlp.schema.EMOTIONS)


def test_the_old_results_chinese_emotion_is_the_predicted_emotion(service: Service) -> None:
    """Results stored before emotions had English names hold 愤怒, 焦虑, …; a label shows the class."""
    analyst = service.key("analyst")
    batch = upload(service, "回访.csv", survey_csv(), analyst)
    with service.services.factory() as session, session.begin():
        item = session.scalars(select(Item).where(Item.batch_id == batch, Item.item_id == "S04")).one()
        item.result = {**item.result, "emotion": "厌恶"}
    body = label(service, analyst, batch_id=batch, item_id="S04", label="negative", emotion="angry").json()
    assert (body["predicted_emotion"], body["predicted_emotion_name"]) == ("angry", "愤怒")
    assert body["text"] == "退款一直不到账，客服态度恶劣，气死我了"


def alembic(engine: Engine, action: str, revision: str) -> None:
    """Upgrade or downgrade the database to `revision` with the shipped migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_migration_0004_keeps_the_binary_labels_and_downgrades(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    alembic(engine, "upgrade", "0003")
    now = datetime.now(UTC)
    texts = ["快递三天还没到", "师傅很准时", "请问什么时候发货", "太慢了气死我了"]
    with session_factory(engine)() as session, session.begin():
        batch = Batch(sha256="1" * 64, filename="回访.csv", status="done", created_at=now, updated_at=now)
        session.add(batch)
        session.flush()
        items = [
            Item(
                batch_id=batch.id,
                row_index=row,
                item_id=f"S{row}",
                kind="survey",
                label="negative",
                negative_probability=0.9,
                # A whole stored result: migration 0005 rebuilds the heatmap aggregates from them.
                result=Result(f"S{row}", "survey", t, Sentiment("negative", -0.8, 0.9, "e5s-zh-2")).to_dict(),
            )
            for row, t in enumerate(texts)
        ]
        session.add_all(items)
        session.flush()
        pks = [item.id for item in items]
    insert = "INSERT INTO labels (item_pk, label, key_id, note, created_at) VALUES (:pk, :label, NULL, :note, :at)"
    with engine.begin() as connection:  # 0/1 labels as the 0003 schema stores them
        connection.execute(
            text(insert),
            [
                {"pk": pks[0], "label": 0, "note": "没到货", "at": now},
                {"pk": pks[1], "label": 1, "note": "", "at": now},
            ],
        )

    alembic(engine, "upgrade", "head")
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        rows = connection.execute(text("SELECT label, emotion, note FROM labels ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("negative", None, "没到货"), ("positive", None, "")]
    with session_factory(engine)() as session, session.begin():
        relabels: list[tuple[int, Label | None, EmotionLabel | None]] = [
            (pks[1], "positive", "happy"),
            (pks[2], "neutral", None),
            (pks[3], None, "angry"),
        ]
        for pk, polarity, emotion in relabels:
            item = session.get(Item, pk)
            assert item is not None
            put_label(session, item, polarity, None, "", emotion)

    # Down again: neutral and emotion-only labels cannot be 0/1, the others come back as numbers.
    alembic(engine, "downgrade", "0003")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT item_pk, label, typeof(label) FROM labels ORDER BY id")).all()
        columns = {c["name"] for c in inspect(connection).get_columns("labels")}
    assert [tuple(r) for r in rows] == [(pks[0], 0, "integer"), (pks[1], 1, "integer")]
    assert "emotion" not in columns
    alembic(engine, "upgrade", "head")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT label FROM labels ORDER BY id")).scalars().all() == [
            "negative",
            "positive",
        ]
    engine.dispose()
