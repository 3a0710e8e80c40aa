"""models.multiclass: the three-way and emotion figures, checked against hand-computed values."""

from __future__ import annotations

import pytest

from models.multiclass import class_report, emotion_report, three_way_report
from nlp.schema import EMOTIONS, LABELS

NEG, NEU, POS = (LABELS.index(label) for label in ("negative", "neutral", "positive"))
ANGRY, SAD, HAPPY = (EMOTIONS.index(e) for e in ("angry", "sad", "happy"))


def test_three_way_figures_by_hand() -> None:
    # 太慢了气死我了 neg→neg, 等了一个月… neg→neu, 请问什么时候发货 neu→neu, 这个有红色的吗 neu→pos,
    # 物流很快很满意 pos→pos, 没想到这么快就到了 pos→pos.
    report = three_way_report([NEG, NEG, NEU, NEU, POS, POS], [NEG, NEU, NEU, POS, POS, POS])
    assert report.n == 6
    assert report.accuracy == pytest.approx(4 / 6)
    figures = {c.label: (c.precision, c.recall, c.f1, c.support, c.predicted) for c in report.per_class}
    assert figures["negative"] == pytest.approx((1.0, 0.5, 2 / 3, 2, 1))
    assert figures["neutral"] == pytest.approx((0.5, 0.5, 0.5, 2, 2))
    assert figures["positive"] == pytest.approx((2 / 3, 1.0, 0.8, 2, 3))
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.5 + 0.8) / 3)
    assert report.confusion == ((1, 1, 0), (0, 1, 1), (0, 0, 2))


def test_macro_f1_leaves_out_classes_absent_from_truth_and_predictions() -> None:
    # angry, angry, happy, sad read as angry, sad, happy, sad: fear, surprise and neutral never occur.
    report = emotion_report([ANGRY, ANGRY, HAPPY, SAD], [ANGRY, SAD, HAPPY, SAD])
    assert report.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)
    assert report.accuracy == pytest.approx(3 / 4)
    absent = [c for c in report.per_class if c.label in {"fear", "surprise", "neutral"}]
    assert [(c.support, c.predicted, c.f1) for c in absent] == [(0, 0, 0.0)] * 3
    # A class only predicted (never true) does count: it is a mistake the scorer made.
    wrong = emotion_report([ANGRY, ANGRY], [ANGRY, EMOTIONS.index("fear")])
    assert wrong.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)


def test_emotion_tables_name_classes_in_chinese() -> None:
    report = emotion_report([ANGRY, SAD, HAPPY], [ANGRY, ANGRY, HAPPY])
    lines = report.markdown_lines()
    assert "| true \\ predicted | 愤怒 | 失望 | 焦虑 | 惊讶 | 满意 | 中性 |" in lines
    assert "| 失望 | 1 | 0 | 0 | 0 | 0 | 0 |" in lines
    assert "| 愤怒 | 0.5000 | 1.0000 | 0.6667 | 1 | 2 |" in lines
    as_json = report.to_dict()
    assert as_json["classes"] == list(EMOTIONS)
    assert as_json["per_class"]["angry"] == {
        "name": "愤怒",
        "precision": 0.5,
        "recall": 1.0,
        "f1": 0.6667,
        "support": 1,
        "predicted": 2,
    }
    assert as_json["confusion"]["matrix"][EMOTIONS.index("sad")] == [1, 0, 0, 0, 0, 0]
    page = report.to_html()
    assert "<th>愤怒</th>" in page and page.count("<tr>") == 6 + 1 + 6 + 1


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 predictions for 3 labels"):
        three_way_report([NEG, NEU, POS], [NEG, NEU])
    with pytest.raises(ValueError, match="1 names for 2 classes"):
        class_report("x", [0], [0], ["a", "b"], ["甲"])
