"""`kesheng labels export | suggest` on a service database: labelled items become a training file
that `kesheng train` accepts; the least sure unlabelled items are suggested first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from api.db import make_engine, migrate, session_factory
from api.tables import Batch, Item, LabelRow
from kesheng.cli import app
from training.validate import ValidationConfig, validate

runner = CliRunner()

# (item id, kind, stored redacted text, negative probability, field label or None)
STORED = [
    ("S1", "survey", "快递三天还没到，打了客服电话[手机号]也没人管", 0.93, 0),
    ("S2", "survey", "安装师傅很专业，\t非常满意", 0.08, 1),
    ("S3", "survey", "价格还行，就是发货有点慢", 0.52, None),
    ("S4", "survey", "东西一般般吧", 0.45, None),
    ("S5", "survey", "质量不错，下次还买", 0.15, None),
    ("c1", "transcript", "漏水了\n打了三次电话都没人来修", 0.61, 0),
    ("c2", "transcript", "说是明天来修，也不知道会不会来", 0.41, None),
]


def stored_database(data_dir: Path) -> None:
    engine = make_engine(f"sqlite:///{data_dir / 'kesheng.db'}")
    migrate(engine)
    now = datetime.now(UTC)
    with session_factory(engine)() as session, session.begin():
        batch = Batch(sha256="0" * 64, filename="回访.csv", status="done", created_at=now, updated_at=now)
        session.add(batch)
        session.flush()
        for row, (item_id, kind, text, probability, label) in enumerate(STORED):
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
            if label is not None:
                session.add(LabelRow(item_pk=item.id, label=label, key_id=1, note="", created_at=now))
    engine.dispose()


def test_export_writes_the_labelled_items_as_training_data(tmp_path: Path) -> None:
    stored_database(tmp_path)
    out = tmp_path / "out" / "labels.tsv"
    result = runner.invoke(app, ["labels", "export", "--out", str(out), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 labelled text(s) written" in result.output and f"--data {out}" in result.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "label\ttext",
        "0\t快递三天还没到，打了客服电话[手机号]也没人管",
        "1\t安装师傅很专业， 非常满意",  # a tab in the text would split the row
        "0\t漏水了 打了三次电话都没人来修",  # a call's customer turns on one line
    ]
    report = validate([out], {}, ValidationConfig(min_rows=3))
    assert report.errors == () and [e.label for e in report.examples] == [0, 1, 0]


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
