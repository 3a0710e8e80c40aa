"""models.evaluate: reading labelled files, the metric arithmetic on fixed probabilities, the report.

The fixed-probability scorers below stand in for a model only to check the arithmetic exactly; the
last test runs the real TransformerScorer (tiny random model) end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from models.evaluate import (
    EvalReport,
    evaluate,
    read_labelled,
    write_report,
)
from nlp.config import SentimentConfig
from nlp.errors import InputError
from nlp.normalize import normalize
from nlp.schema import Sentiment
from nlp.sentiment import sentiment_from_probability
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
        (["1\t客服态度很好", "3\t菜都凉了"], r"data\.tsv:3 \[label\]: .*a file with a 2 .* reads 0 negative, 1 neutral"),
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
