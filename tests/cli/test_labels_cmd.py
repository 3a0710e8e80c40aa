"""`kesheng labels export | suggest` on a service database: binary labelled items become a training
file that `kesheng train` accepts, neutral labels and emotions a three-way file that `kesheng
evaluate` reads; the least sure unlabelled items are suggested first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from api.db import make_engine, migrate, session_factory
from api.labels_db import write_labels_tsv
from api.tables import Batch, Item, LabelRow
from kesheng.cli import app
from models.evaluate import read_labelled
from training.validate import ValidationConfig, validate

runner = CliRunner()

Stored = tuple[str, str, str, float, str | None, str | None]
# (item id, kind, stored redacted text, negative probability, field label, field emotion): no label
# and no emotion means not labelled.
STORED: list[Stored] = [
    ("S1", "survey", "快递三天还没到，打了客服电话[手机号]也没人管", 0.93, "negative", None),
    ("S2", "survey", "安装师傅很专业，\t非常满意", 0.08, "positive", None),
    ("S3", "survey", "价格还行，就是发货有点慢", 0.52, None, None),
    ("S4", "survey", "东西一般般吧", 0.45, None, None),
    ("S5", "survey", "质量不错，下次还买", 0.15, None, None),
    ("c1", "transcript", "漏水了\n打了三次电话都没人来修", 0.61, "negative", None),
    ("c2", "transcript", "说是明天来修，也不知道会不会来", 0.41, None, None),
]
# The same items with three-way labels and emotions given in the field.
THREE_WAY: list[Stored] = [
    ("S1", "survey", "快递三天还没到，打了客服电话[手机号]也没人管", 0.93, "negative", "angry"),
    ("S2", "survey", "安装师傅很专业，\t非常满意", 0.08, "positive", "happy"),
    ("S3", "survey", "请问什么时候发货", 0.52, "neutral", None),
    ("S4", "survey", "太慢了气死我了", 0.61, None, "angry"),
    ("c1", "transcript", "漏水了\n打了三次电话都没人来修", 0.61, "negative", None),
]


def stored_database(data_dir: Path, stored: Sequence[Stored] = STORED) -> None:
    engine = make_engine(f"sqlite:///{data_dir / 'kesheng.db'}")
    migrate(engine)
    now = datetime.now(UTC)
    with session_factory(engine)() as session, session.begin():
        batch = Batch(sha256="0" * 64, filename="回访.csv", status="done", created_at=now, updated_at=now)
        session.add(batch)
        session.flush()
        for row, (item_id, kind, text, probability, label, emotion) in enumerate(stored):
            predicted = "negative" if probability > 0.5 else "positive"
            sentiment = {"label": predicted, "negative_probability": probability, "model_version": "e5s-zh-1"}
            item = Item(
                batch_id=batch.id,
                row_index=row,
                item_id=item_id,
                kind=kind,
                label=predicted,
                negative_probability=probability,
                result={"id": item_id, "kind": kind, "text": text, "sentiment": sentiment},
            )
            session.add(item)
            session.flush()
            if label is not None or emotion is not None:
                session.add(LabelRow(item_pk=item.id, label=label, emotion=emotion, key_id=1, created_at=now))
    engine.dispose()


def test_export_writes_the_labelled_items_as_training_data(tmp_path: Path) -> None:
    stored_database(tmp_path)
    out = tmp_path / "out" / "labels.tsv"
    result = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (
        "3 labelled text(s) written" in result.output
        and f"kesheng train --config <recipe> --data {out}" in result.output
    )
    assert out.read_text(encoding="utf-8").splitlines() == [
        "label\ttext",
        "0\t快递三天还没到，打了客服电话[手机号]也没人管",
        "1\t安装师傅很专业， 非常满意",  # a tab in the text would split the row
        "0\t漏水了 打了三次电话都没人来修",  # a call's customer turns on one line
    ]
    report = validate([out], {}, ValidationConfig(min_rows=3))
    assert report.errors == () and [e.label for e in report.examples] == [0, 1, 0]


def test_neutral_labels_or_emotions_export_the_three_way_format(tmp_path: Path) -> None:
    stored_database(tmp_path, THREE_WAY)
    out = tmp_path / "labels.tsv"
    result = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "5 labelled text(s) written" in result.output and "kesheng train" not in result.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "label\temotion\ttext",
        "negative\tangry\t快递三天还没到，打了客服电话[手机号]也没人管",
        "positive\thappy\t安装师傅很专业， 非常满意",
        "neutral\t\t请问什么时候发货",
        "\tangry\t太慢了气死我了",
        "negative\t\t漏水了 打了三次电话都没人来修",
    ]
    assert "3 row(s) have no label or no emotion" in result.output


def test_one_emotion_is_enough_for_the_three_way_format(tmp_path: Path) -> None:
    """Binary labels with a single emotion: the file switches to words, so no 0/1 is left to misread."""
    stored = [*STORED[:2], ("S3", "survey", "客服态度恶劣，气死我了", 0.9, "negative", "angry")]
    stored_database(tmp_path, stored)
    out = tmp_path / "labels.tsv"
    assert runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", str(tmp_path)]).exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines()[0] == "label\temotion\ttext"
    assert out.read_text(encoding="utf-8").splitlines()[1:] == [
        "negative\t\t快递三天还没到，打了客服电话[手机号]也没人管",
        "positive\t\t安装师傅很专业， 非常满意",
        "negative\tangry\t客服态度恶劣，气死我了",
    ]


def test_a_binary_export_keeps_the_negative_and_positive_labels_only(tmp_path: Path) -> None:
    """For binary training (a training job from the field labels): neutral and emotion-only labels
    are left out, the rest is the 0/1 file `kesheng train` validates."""
    stored_database(tmp_path, THREE_WAY)
    engine = make_engine(f"sqlite:///{tmp_path / 'kesheng.db'}")
    out = tmp_path / "binary.tsv"
    with session_factory(engine)() as session:
        assert write_labels_tsv(session, out, binary=True) == 3
    engine.dispose()
    assert out.read_text(encoding="utf-8").splitlines() == [
        "label\ttext",
        "0\t快递三天还没到，打了客服电话[手机号]也没人管",
        "1\t安装师傅很专业， 非常满意",
        "0\t漏水了 打了三次电话都没人来修",
    ]
    assert read_labelled(out).labels == (0, 1, 0)
    report = validate([out], {}, ValidationConfig(min_rows=3))
    assert report.errors == ()


def test_suggest_lists_the_least_sure_unlabelled_items_first(tmp_path: Path) -> None:
    stored_database(tmp_path)
    result = runner.invoke(app, ["labels", "suggest", "3", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.strip().splitlines()[1:]]
    # |p - 0.5|: S3 0.02, c2 0.09, S4 0.05 → S3, S4, c2; labelled c1 (0.11) and sure S5 are left out.
    assert [(r[1], r[2]) for r in rows] == [("S3", "0.5200"), ("S4", "0.4500"), ("c2", "0.4100")]
    assert rows[0][3] == "价格还行，就是发货有点慢"


def test_an_empty_database_exports_an_empty_file_and_suggests_nothing(tmp_path: Path) -> None:
    out = tmp_path / "labels.tsv"
    exported = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", str(tmp_path)])
    assert exported.exit_code == 0 and "0 labelled text(s)" in exported.output
    assert out.read_text(encoding="utf-8") == "label\ttext\n"
    suggested = runner.invoke(app, ["labels", "suggest", "5", "--data-dir", str(tmp_path)])
    assert suggested.exit_code == 0 and "no unlabelled stored item" in suggested.output
