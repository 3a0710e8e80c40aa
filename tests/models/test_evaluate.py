"""models.evaluate: reading labelled files, the metric arithmetic on fixed probabilities, the report.

The fixed-probability scorers below stand in for a model only to check the arithmetic exactly; the
last test runs the real TransformerScorer (tiny random model) end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from models.evaluate import (
    EvalReport,
    evaluate,
    evaluate_file,
    read_labelled,
    write_report,
)
from nlp.config import SentimentConfig
from nlp.errors import InputError
from nlp.normalize import normalize
from nlp.schema import EMOTIONS, Emotion, EmotionLabel, Sentiment
from nlp.sentiment import sentiment_from_probabilities, sentiment_from_probability
from nlp.sentiment.transformer import TransformerScorer

# (label 1 = positive, real review text, the fixed negative probability the fake scorer gives it)
ROWS = [
    (1, "房间干净，早餐丰富", 0.1),  # right
    (1, "客服态度很好", 0.3),  # right
    (1, "物流很快，东西不错", 0.7),  # wrong, most confident mistake
    (1, "还行吧，一般般", 0.55),  # wrong
    (0, "快递太慢了", 0.9),  # right
    (0, "退款一直不到账", 0.8),  # right
    (0, "菜都凉了", 0.4),  # wrong
    (0, "再也不买了", 0.5),  # right: p_negative >= 0.5 is negative
]
FIXED = {normalize(text): p for _label, text, p in ROWS}


class FixedArrayScorer:
    """Returns the fixed probabilities through the array path (as TransformerScorer does)."""

    version = "fixed-array"

    def negative_probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return np.array([FIXED[t] for t in texts])

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        raise AssertionError("the array path must be used")


class FixedSentimentScorer:
    """Returns the fixed probabilities as Sentiments only (as the lexicon scorer does)."""

    version = "fixed-sentiment"

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        return [sentiment_from_probability(FIXED[t], self.version, SentimentConfig()) for t in texts]


def _write(path: Path, header: str, lines: Sequence[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding=encoding)
    return path


def _tsv(tmp_path: Path) -> Path:
    return _write(tmp_path / "data.tsv", "label\ttext_a", [f"{label}\t{text}" for label, text, _p in ROWS])


@pytest.fixture(params=["tsv", "csv_review", "csv_cat_gbk", "csv_bom_text"])
def data_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    # The layouts of ChnSentiCorp (TSV), waimai_10k, online_shopping_10_cats, and a survey-style export.
    rows = [(label, text) for label, text, _p in ROWS]
    if request.param == "tsv":
        return _tsv(tmp_path)
    if request.param == "csv_review":
        return _write(tmp_path / "w.csv", "label,review", [f'{label},"{text}"' for label, text in rows])
    if request.param == "csv_cat_gbk":
        lines = [f'酒店,{label},"{text}"' for label, text in rows]
        return _write(tmp_path / "o.csv", "cat,label,review", lines, encoding="gbk")
    return _write(tmp_path / "s.csv", "text,label", [f'"{text}",{label}' for label, text in rows], "utf-8-sig")


@pytest.mark.parametrize("scorer", [FixedArrayScorer(), FixedSentimentScorer()], ids=["array", "sentiment"])
def test_metrics_are_exact(data_file: Path, scorer: FixedArrayScorer | FixedSentimentScorer) -> None:
    report = evaluate(scorer, data_file)
    assert report.n == 8
    assert report.positives == 4
    assert report.model_version == scorer.version
    assert report.accuracy == pytest.approx(5 / 8)
    # F1 negative = 2/3 (precision 3/5, recall 3/4); F1 positive = 4/7 (precision 2/3, recall 1/2).
    assert report.macro_f1 == pytest.approx((2 / 3 + 4 / 7) / 2)
    # 12 of the 16 (positive, negative) pairs are ranked the right way round.
    assert report.roc_auc == pytest.approx(0.75)
    assert report.confusion == ((3, 1), (2, 2))
    # Most confident mistakes first, with their file rows (the header is row 1).
    assert [(e.row, e.label, e.negative_probability) for e in report.worst] == [
        (4, 1, 0.7),
        (8, 0, 0.4),
        (5, 1, 0.55),
    ]
    assert report.worst[0].text == "物流很快，东西不错"  # quoted as in the file, not normalised


def test_one_class_has_no_auc(tmp_path: Path) -> None:
    path = _write(tmp_path / "neg.tsv", "label\ttext", ["0\t快递太慢了", "0\t菜都凉了"])
    report = evaluate(FixedArrayScorer(), path)
    assert report.roc_auc is None
    assert report.accuracy == pytest.approx(0.5)
    assert report.confusion == ((1, 1), (0, 0))
    assert "n/a" in report.to_markdown()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["1\t客服态度很好", "好评\t房间干净，早餐丰富"],
            r"data\.tsv:3 \[label\]: label must be 0 \(negative\) or 1",
        ),
        (
            ["1\t客服态度很好", "3\t菜都凉了"],
            r"data\.tsv:3 \[label\]: .*a file with a 2 .* reads 0 negative, 1 neutral",
        ),
        (["1\t客服态度很好", "0\t  "], r"data\.tsv:3 \[text_a\]: empty text"),
        (["1\t客服态度很好", "0\t菜都凉了\t多余"], r"data\.tsv:3: row has 3 fields but the header has 2"),
        ([], r"data\.tsv: no labelled rows"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, lines: list[str], message: str) -> None:
    path = _write(tmp_path / "data.tsv", "label\ttext_a", lines)
    with pytest.raises(InputError, match=message):
        read_labelled(path)


def test_row_numbers_count_physical_lines(tmp_path: Path) -> None:
    # A quoted text over two lines, then a blank line: the bad row is on file line 6.
    path = tmp_path / "data.csv"
    path.write_text('label,review\n1,"第一行\n第二行"\n\n0,菜都凉了\nx,快递太慢了\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"data\.csv:6 \[label\]"):
        read_labelled(path)


@pytest.mark.parametrize(("header", "missing"), [("label\tcomment_id", "text"), ("score\ttext", "label")])
def test_missing_column_is_named(tmp_path: Path, header: str, missing: str) -> None:
    path = _write(tmp_path / "data.tsv", header, ["1\t好"])
    with pytest.raises(InputError, match=rf"data\.tsv:1: no {missing} column"):
        read_labelled(path)


def test_report_files(tmp_path: Path) -> None:
    report = evaluate(FixedArrayScorer(), _tsv(tmp_path))
    json_path, md_path = write_report(report, tmp_path / "out")
    written = json.loads(json_path.read_text(encoding="utf-8"))
    assert written["accuracy"] == 0.625
    assert written["macro_f1"] == round((2 / 3 + 4 / 7) / 2, 4)
    assert written["confusion"]["matrix"] == [[3, 1], [2, 2]]
    assert written["worst"][0]["row"] == 4
    assert written == json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    markdown = md_path.read_text(encoding="utf-8")
    assert "**62.50%**" in markdown
    assert "| negative | 3 | 1 |" in markdown and "| positive | 2 | 2 |" in markdown
    assert "物流很快，东西不错" in markdown


def test_evaluate_runs_the_transformer_scorer(tiny_model_dir: Path, tmp_path: Path) -> None:
    scorer = TransformerScorer.load(tiny_model_dir)
    report: EvalReport = evaluate(scorer, _tsv(tmp_path))
    assert report.model_version == scorer.version
    assert report.n == 8
    assert sum(map(sum, report.confusion)) == 8
    assert 0.0 <= report.accuracy <= 1.0
    assert all(0.0 <= e.negative_probability <= 1.0 for e in report.worst)


# --- three-way labels and emotions ------------------------------------------------------------
# (polarity, emotion, real text, the fixed P(negative, neutral, positive) and emotion of the fake scorer)
THREE_WAY_ROWS: list[tuple[str, EmotionLabel, str, tuple[float, float, float], EmotionLabel]] = [
    ("negative", "angry", "太慢了气死我了", (0.9, 0.05, 0.05), "angry"),  # right, right
    ("negative", "sad", "等了一个月还没到，太失望了", (0.08, 0.6, 0.32), "sad"),  # read neutral; binary wrong
    ("neutral", "neutral", "请问什么时候发货", (0.1, 0.8, 0.1), "neutral"),  # right, right
    ("neutral", "neutral", "这个有红色的吗", (0.1, 0.3, 0.6), "happy"),  # read positive, happy
    ("positive", "happy", "物流很快很满意", (0.05, 0.15, 0.8), "happy"),  # right, right
    ("positive", "surprise", "没想到这么快就到了", (0.1, 0.2, 0.7), "surprise"),  # right, right
]
THREE_WAY_FIXED = {normalize(text): (probs, feeling) for _p, _e, text, probs, feeling in THREE_WAY_ROWS}
ZH_POLARITY = {"negative": "负面", "neutral": "中性", "positive": "正面"}
ZH_EMOTION = {"angry": "愤怒", "sad": "失望", "neutral": "中性", "happy": "满意", "surprise": "惊讶"}
NUMBER = {"negative": "0", "neutral": "1", "positive": "2"}


class ThreeWayScorer:
    """Fixed three-way Sentiments, with the fixed emotion or (with_emotion=False) none, as a
    three-way model with or without an emotion head gives them."""

    def __init__(self, with_emotion: bool = True) -> None:
        self.with_emotion = with_emotion
        self.version = "fixed-three-way" if with_emotion else "fixed-no-emotion"

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        out = []
        for text in texts:
            probs, feeling = THREE_WAY_FIXED[text]
            emotion = Emotion(feeling) if self.with_emotion else None
            out.append(sentiment_from_probabilities(probs, self.version, SentimentConfig(), emotion))
        return out


@pytest.fixture(params=["english", "chinese", "numbers"])
def three_way_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    # The same six rows spelt three ways: English words, Chinese words, and JDDC-style 0/1/2.
    if request.param == "english":
        lines = [f"{p}\t{e}\t{text}" for p, e, text, _probs, _f in THREE_WAY_ROWS]
        return _write(tmp_path / "three.tsv", "label\temotion\ttext", lines)
    if request.param == "chinese":
        lines = [f'"{text}",{ZH_POLARITY[p]},{ZH_EMOTION[e]}' for p, e, text, _probs, _f in THREE_WAY_ROWS]
        return _write(tmp_path / "three.csv", "评论,标签,情绪", lines, encoding="gbk")
    lines = [f"{NUMBER[p]},{e},{text}" for p, e, text, _probs, _f in THREE_WAY_ROWS]
    return _write(tmp_path / "three.csv", "label,Emotion,review", lines)


def test_three_way_labels_and_emotions_are_read(three_way_file: Path) -> None:
    data = read_labelled(three_way_file)
    assert data.label_kind == "three-way"
    assert data.polarity == (0, 0, 1, 1, 2, 2)
    assert data.emotions == tuple(EMOTIONS.index(e) for _p, e, _t, _probs, _f in THREE_WAY_ROWS)
    assert data.labels == ()  # binary callers get no 0/1 labels to misread
    assert data.texts[0] == "太慢了气死我了" and data.rows == (2, 3, 4, 5, 6, 7)
    binary = data.binary()
    assert binary is not None
    assert binary.texts == ("太慢了气死我了", "等了一个月还没到，太失望了", "物流很快很满意", "没想到这么快就到了")
    assert binary.labels == (0, 0, 1, 1) and binary.rows == (2, 3, 6, 7)


def test_numbers_are_binary_unless_the_file_holds_a_2(tmp_path: Path) -> None:
    binary = read_labelled(_write(tmp_path / "b.tsv", "label\ttext", ["0\t快递太慢了", "1\t物流很快很满意"]))
    assert binary.label_kind == "binary" and binary.labels == (0, 1) and binary.polarity is None
    assert binary.binary() is binary
    three = read_labelled(
        _write(tmp_path / "t.tsv", "label\ttext", ["0\t快递太慢了", "1\t请问什么时候发货", "2\t很满意"])
    )
    assert three.label_kind == "three-way" and three.polarity == (0, 1, 2) and three.labels == ()


def test_emotion_only_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "weibo.tsv", "情绪\t文本", ["愤怒\t太慢了气死我了", "满意\t物流很快很满意"])
    data = read_labelled(path)
    assert data.label_kind is None and data.label_column is None and data.emotion_column == "情绪"
    assert data.emotions == (EMOTIONS.index("angry"), EMOTIONS.index("happy"))
    assert data.binary() is None and data.non_neutral() == ()
    result = evaluate_file(ThreeWayScorer(), path)
    assert result.binary is None and result.three_way is None
    assert result.emotion is not None and result.emotion.accuracy == 1.0
    with pytest.raises(InputError, match=r"weibo\.tsv:1: no polarity labels"):
        evaluate(ThreeWayScorer(), path)


@pytest.mark.parametrize(
    ("header", "lines", "message"),
    [
        (
            "label\temotion\ttext",
            ["neutral\tneutral\t请问什么时候发货", "positive\t开心\t很满意"],
            r"t\.tsv:3 \[emotion\]: emotion must be one of angry, sad",
        ),
        ("label\temotion\ttext", ["neutral\t\t请问什么时候发货"], r"t\.tsv:2 \[emotion\]: emotion must be .*; got ''"),
        (
            "label\ttext",
            ["negative\t太慢了", "2\t很满意"],
            r"t\.tsv:3 \[label\]: label '2' and row 2's 'negative' mix words and numbers",
        ),
        ("label\ttext", ["1\t很满意", "正面\t物流很快"], r"t\.tsv:3 \[label\]: .*mix words and numbers"),
        (
            "label\ttext",
            ["1\t很满意", "angry\t气死我了"],
            r"t\.tsv:3 \[label\]: .*'angry' is an emotion: put emotions in a column named emotion or 情绪",
        ),
        (
            "label\ttext",
            ["好评\t很满意"],
            r"t\.tsv:2 \[label\]: .*0/1/2 \(a file with a 2 in its label column reads 0 negative, 1 neutral, "
            r"2 positive\); got '好评'",
        ),
        ("emotion\ttext", ["angry\t  "], r"t\.tsv:2 \[text\]: empty text"),
        ("score\ttext", ["1\t好"], r"t\.tsv:1: no label column: .*or give an emotion column: emotion, emotions, 情绪"),
    ],
)
def test_bad_three_way_and_emotion_rows_are_named(tmp_path: Path, header: str, lines: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_labelled(_write(tmp_path / "t.tsv", header, lines))


def test_three_way_and_emotion_figures(three_way_file: Path) -> None:
    result = evaluate_file(ThreeWayScorer(), three_way_file)
    assert result.rows == 6 and result.label_kind == "three-way" and result.binary_rows == "non-neutral"
    three = result.three_way
    assert three is not None
    # True negative, negative, neutral, neutral, positive, positive read as neg, neu, neu, pos, pos, pos:
    # F1 negative 2/3 (P 1, R 1/2), neutral 1/2 (P 1/2, R 1/2), positive 4/5 (P 2/3, R 1).
    assert three.accuracy == pytest.approx(4 / 6)
    assert three.macro_f1 == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)
    assert three.confusion == ((1, 1, 0), (0, 1, 1), (0, 0, 2))
    # Binary figures on the four non-neutral rows, read among opinions: P(negative) / (P(negative) +
    # P(positive)) is 0.95, 0.2 (negatives), 0.06, 0.125 (positives).
    binary = result.binary
    assert binary is not None
    assert (binary.n, binary.positives) == (4, 2)
    assert binary.accuracy == pytest.approx(3 / 4)
    assert binary.roc_auc == pytest.approx(
        1.0
    )  # the misread negative (P(positive) 0.8) still ranks below both positives
    assert [(e.row, e.text) for e in binary.worst] == [(3, "等了一个月还没到，太失望了")]
    emotion = result.emotion
    assert emotion is not None and result.emotion_note is None
    # 这个有红色的吗 (neutral) read happy: F1 happy 2/3, neutral 2/3; angry, sad, surprise 1; fear absent.
    assert emotion.accuracy == pytest.approx(5 / 6)
    assert emotion.macro_f1 == pytest.approx((1 + 1 + 1 + 2 / 3 + 2 / 3) / 5)
    assert emotion.confusion[EMOTIONS.index("neutral")][EMOTIONS.index("happy")] == 1
    # The gate's binary figures of a three-way file are the same non-neutral ones.
    assert evaluate(ThreeWayScorer(), three_way_file).accuracy == pytest.approx(3 / 4)


def test_a_scorer_without_emotions_gets_a_note_not_figures(tmp_path: Path) -> None:
    lines = [f"{p}\t{e}\t{text}" for p, e, text, _probs, _f in THREE_WAY_ROWS]
    path = _write(tmp_path / "three.tsv", "label\temotion\ttext", lines)
    result = evaluate_file(ThreeWayScorer(with_emotion=False), path)
    assert result.emotion is None
    assert result.emotion_note == "No emotion figures: the scorer fixed-no-emotion gives no emotions."
    assert result.three_way is not None and result.three_way.accuracy == pytest.approx(4 / 6)
    assert result.to_dict()["emotion"] is None
    assert "No emotion figures: the scorer fixed-no-emotion gives no emotions." in result.to_markdown()


def test_binary_files_keep_their_report(data_file: Path) -> None:
    binary = evaluate(FixedArrayScorer(), data_file)
    full = evaluate_file(FixedArrayScorer(), data_file)
    assert full.label_kind == "binary" and full.three_way is None and full.emotion is None
    assert full.emotion_note is None and full.binary_rows == "all"
    assert full.binary == replace(binary, seconds=full.binary.seconds if full.binary else 0.0)
    # Same Markdown as the binary report, same JSON plus the new keys (the timing aside).
    assert full.to_markdown().split("- time:")[0] == binary.to_markdown().split("- time:")[0]
    untimed = {"seconds", "texts_per_second"}
    extra = {
        "rows": 8,
        "labels": "binary",
        "binary_rows": "all",
        "three_way": None,
        "emotion": None,
        "emotion_note": None,
    }
    old = {k: v for k, v in binary.to_dict().items() if k not in untimed}
    assert {k: v for k, v in full.to_dict().items() if k not in untimed} == {**old, **extra}


def test_binary_file_with_emotions(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "b.tsv",
        "label\temotion\ttext",
        ["0\tangry\t太慢了气死我了", "1\thappy\t物流很快很满意", "1\tsurprise\t没想到这么快就到了"],
    )
    result = evaluate_file(ThreeWayScorer(), path)
    assert result.label_kind == "binary" and result.three_way is None
    assert result.binary is not None and result.binary.accuracy == 1.0 and result.binary.n == 3
    assert result.emotion is not None and result.emotion.accuracy == 1.0
    assert "## Emotion (6 classes)" in result.to_markdown()


def test_three_way_report_files(tmp_path: Path) -> None:
    lines = [f"{ZH_POLARITY[p]}\t{ZH_EMOTION[e]}\t{text}" for p, e, text, _probs, _f in THREE_WAY_ROWS]
    path = _write(tmp_path / "three.tsv", "标签\t情绪\t文本", lines)
    json_path, md_path = write_report(evaluate_file(ThreeWayScorer(), path), tmp_path / "out")
    written = json.loads(json_path.read_text(encoding="utf-8"))
    assert (written["rows"], written["n"], written["labels"], written["binary_rows"]) == (
        6,
        4,
        "three-way",
        "non-neutral",
    )
    assert written["accuracy"] == 0.75 and written["roc_auc"] == 1.0
    assert written["three_way"]["classes"] == ["negative", "neutral", "positive"]
    assert written["three_way"]["macro_f1"] == round((2 / 3 + 1 / 2 + 4 / 5) / 3, 4)
    assert written["three_way"]["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert written["three_way"]["per_class"]["positive"] == {
        "name": "positive",
        "precision": 0.6667,
        "recall": 1.0,
        "f1": 0.8,
        "support": 2,
        "predicted": 3,
    }
    assert written["emotion"]["per_class"]["happy"]["name"] == "满意"
    assert written["emotion"]["macro_f1"] == round(13 / 15, 4)
    markdown = md_path.read_text(encoding="utf-8")
    assert "## Three-way polarity" in markdown
    assert "| true \\ predicted | negative | neutral | positive |" in markdown
    assert "| neutral | 0 | 1 | 1 |" in markdown
    assert "## Negative vs positive (4 non-neutral rows, 2 positive)" in markdown
    assert "| true \\ predicted | 愤怒 | 失望 | 焦虑 | 惊讶 | 满意 | 中性 |" in markdown
    assert "| 中性 | 0 | 0 | 0 | 0 | 1 | 1 |" in markdown
    assert "等了一个月还没到，太失望了" in markdown  # the binary mistake is quoted


def test_evaluate_file_runs_the_transformer_scorer(tiny_model_dir: Path, tmp_path: Path) -> None:
    # Holds for a binary model (today's default: neutral is its band, no emotions) and a three-way one.
    lines = [f"{p}\t{e}\t{text}" for p, e, text, _probs, _f in THREE_WAY_ROWS]
    path = _write(tmp_path / "three.tsv", "label\temotion\ttext", lines)
    scorer = TransformerScorer.load(tiny_model_dir)
    result = evaluate_file(scorer, path)
    assert result.three_way is not None and sum(map(sum, result.three_way.confusion)) == 6
    assert result.binary is not None and result.binary.n == 4
    if scorer.manifest.emotions:
        assert result.emotion is not None and sum(map(sum, result.emotion.confusion)) == 6
    else:
        assert result.emotion is None and result.emotion_note is not None
