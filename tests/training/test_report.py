"""training.report: calibration arithmetic on fixed probabilities, and the Markdown/HTML/JSON report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kesheng.cli import app
from nlp.config import SentimentConfig
from nlp.normalize import normalize
from nlp.schema import Emotion, EmotionLabel, Sentiment
from nlp.sentiment import sentiment_from_probabilities
from nlp.sentiment.transformer import TransformerScorer
from training.report import calibration, evaluate_sets, write_model_report

# (label 1 = positive, review, fixed p_negative)
ROWS = [
    (1, "房间干净，早餐丰富", 0.05),  # P(pos) 0.95 → bin 0.9–1.0
    (1, "客服态度很好", 0.15),  # 0.85 → bin 0.8–0.9
    (0, "物流很快，东西不错", 0.12),  # 0.88 → bin 0.8–0.9, a confident mistake
    (0, "快递太慢了", 0.95),  # 0.05 → bin 0.0–0.1
    (0, "退款一直不到账", 0.9),  # 0.10 → bin 0.1–0.2
    (1, "菜都凉了", 0.6),  # 0.40 → bin 0.4–0.5, a mistake
]


def test_calibration_bins_ece_and_brier() -> None:
    p_negative = np.array([p for _, _, p in ROWS])
    labels = [label for label, _, _ in ROWS]
    result = calibration(p_negative, labels)
    table = [(b.low, b.count, round(b.mean_predicted, 3), b.observed) for b in result.bins]
    assert table == [
        (0.0, 1, 0.05, 0.0),
        (0.1, 1, 0.1, 0.0),
        (0.4, 1, 0.4, 1.0),
        (0.8, 2, 0.865, 0.5),
        (0.9, 1, 0.95, 1.0),
    ]
    gaps = [0.05, 0.1, 0.6, 2 * 0.365, 0.05]
    assert result.ece == pytest.approx(sum(gaps) / 6)
    p_positive = 1 - p_negative
    assert result.brier == pytest.approx(float(np.mean((p_positive - np.array(labels)) ** 2)))
    # P(positive) = 1.0 lands in the last bin, not past it.
    assert calibration(np.array([0.0]), [1]).bins[0].low == 0.9


def test_report_files_on_the_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "golden.tsv"
    data.write_text("label\ttext\n" + "".join(f"{label}\t{text}\n" for label, text, _ in ROWS), encoding="utf-8")
    scorer = TransformerScorer.load(tiny_model_dir, threads=1)
    report = evaluate_sets(scorer, {"mixed": data, "again": data})
    md, page, raw = write_model_report(report, tmp_path / "out")
    figures = report.sets[0].report
    fit = report.sets[0].calibration
    assert [s.name for s in report.sets] == ["mixed", "again"]
    assert fit is not None and sum(b.count for b in fit.bins) == len(ROWS)

    text = md.read_text(encoding="utf-8")
    assert f"| mixed | {len(ROWS)} | {figures.accuracy:.2%} | {figures.macro_f1:.4f} |" in text
    (tn, fp), (fn, tp) = figures.confusion
    assert f"| negative | {tn} | {fp} |" in text and f"| positive | {fn} | {tp} |" in text
    assert "Calibration (reliability table)" in text
    for mistake in figures.worst:
        assert mistake.text in text

    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and html.count("<polyline") == 2
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    for mistake in figures.worst:
        assert mistake.text in html

    saved = json.loads(raw.read_text(encoding="utf-8"))
    assert saved["model_version"] == scorer.version
    assert saved["sets"]["mixed"]["accuracy"] == round(figures.accuracy, 4)
    assert len(saved["sets"]["mixed"]["calibration"]["bins"]) == len(fit.bins)


def test_html_escapes_texts(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "x.tsv"
    data.write_text("label\ttext\n1\t<script>alert(1)</script>差评\n0\t好评<b>\n", encoding="utf-8")
    report = evaluate_sets(TransformerScorer.load(tiny_model_dir, threads=1), {"x": data})
    assert "<script>alert" not in report.to_html() and "<b>" not in report.to_html()


# --- three-way and emotion sets ---------------------------------------------------------------
# (polarity, emotion, text, fixed P(negative, neutral, positive), fixed emotion)
THREE_WAY_ROWS: list[tuple[str, EmotionLabel, str, tuple[float, float, float], EmotionLabel]] = [
    ("negative", "angry", "太慢了气死我了", (0.9, 0.05, 0.05), "angry"),
    ("negative", "sad", "等了一个月还没到，太失望了", (0.08, 0.6, 0.32), "sad"),
    ("neutral", "neutral", "请问什么时候发货", (0.1, 0.8, 0.1), "neutral"),
    ("neutral", "neutral", "这个有红色的吗", (0.1, 0.3, 0.6), "happy"),
    ("positive", "happy", "物流很快很满意", (0.05, 0.15, 0.8), "happy"),
    ("positive", "surprise", "没想到这么快就到了", (0.1, 0.2, 0.7), "surprise"),
]
FIXED = {normalize(text): (probs, feeling) for _p, _e, text, probs, feeling in THREE_WAY_ROWS}


class ThreeWayScorer:
    """Fixed three-way Sentiments with emotions, as a three-way model with an emotion head gives them."""

    version = "fixed-three-way"

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        return [
            sentiment_from_probabilities(FIXED[t][0], self.version, SentimentConfig(), Emotion(FIXED[t][1]))
            for t in texts
        ]


def _three_way_sets(tmp_path: Path) -> dict[str, Path]:
    three = tmp_path / "three.tsv"
    three.write_text(
        "label\temotion\ttext\n" + "".join(f"{p}\t{e}\t{t}\n" for p, e, t, _q, _f in THREE_WAY_ROWS), encoding="utf-8"
    )
    weibo = tmp_path / "weibo.tsv"
    weibo.write_text("情绪\t文本\n" + "".join(f"{e}\t{t}\n" for _p, e, t, _q, _f in THREE_WAY_ROWS), encoding="utf-8")
    return {"three": three, "weibo": weibo}


def test_three_way_and_emotion_sets(tmp_path: Path) -> None:
    report = evaluate_sets(ThreeWayScorer(), _three_way_sets(tmp_path))
    three, weibo = report.sets
    # The binary figures and calibration of the three-way set count its four non-neutral rows.
    assert three.report.n == 4 and three.calibration is not None
    assert sum(b.count for b in three.calibration.bins) == 4
    assert weibo.calibration is None and weibo.evaluation.binary is None
    with pytest.raises(ValueError, match="weibo: a set with emotions only has no binary figures"):
        _ = weibo.report

    text = report.to_markdown()
    three_way_f1, emotion_f1 = (2 / 3 + 1 / 2 + 4 / 5) / 3, 13 / 15
    assert f"| three | 6 | 75.00% | {three.report.macro_f1:.4f} | 1.0000 |" in text
    assert text.count(f"| {three_way_f1:.4f} | {emotion_f1:.4f} |") == 1
    assert f"| weibo | 6 | – | – | – | – | – | – | {emotion_f1:.4f} |" in text
    assert "### Three-way polarity" in text and "### Negative vs positive (4 non-neutral rows)" in text
    assert "| true \\ predicted | negative | neutral | positive |" in text
    assert text.count("| true \\ predicted | 愤怒 | 失望 | 焦虑 | 惊讶 | 满意 | 中性 |") == 2

    page = report.to_html()
    assert page.count("<polyline") == 1  # the emotion-only set has no calibration curve
    # 愤怒 heads a per-class row, a matrix column and a matrix row in each of the two sets.
    assert "<h3>Three-way polarity</h3>" in page and page.count("<th>愤怒</th>") == 6

    saved = report.to_dict()["sets"]
    assert saved["three"]["three_way"]["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert saved["three"]["accuracy"] == 0.75 and saved["three"]["binary_rows"] == "non-neutral"
    assert saved["weibo"]["calibration"] is None and "accuracy" not in saved["weibo"]
    assert saved["weibo"]["emotion"]["macro_f1"] == round(emotion_f1, 4)


def test_kesheng_evaluate_writes_three_way_figures(tmp_path: Path) -> None:
    data = _three_way_sets(tmp_path)["three"]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--lexicon", "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["rows"] == 6 and saved["labels"] == "three-way" and saved["n"] == 4
    assert sum(map(sum, saved["three_way"]["confusion"]["matrix"])) == 6
    # The lexicon reads no emotions: the report says so instead of giving figures.
    assert saved["emotion"] is None and "gives no emotions" in saved["emotion_note"]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| true \\ predicted | negative | neutral | positive |" in markdown
    assert markdown.strip() == result.output.strip()  # what it prints is what it writes
    assert "<h3>Three-way polarity</h3>" in (out / "report.html").read_text(encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\temotion\ttext\nneutral\t开心\t请问什么时候发货\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["evaluate", "--data", str(bad), "--lexicon"])
    assert refused.exit_code != 0 and "bad.tsv:2 [emotion]" in refused.output
