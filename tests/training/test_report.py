"""training.report: calibration arithmetic on fixed probabilities, and the Markdown/HTML/JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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
    assert [s.name for s in report.sets] == ["mixed", "again"]
    assert sum(b.count for b in report.sets[0].calibration.bins) == len(ROWS)

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
    assert len(saved["sets"]["mixed"]["calibration"]["bins"]) == len(report.sets[0].calibration.bins)


def test_html_escapes_texts(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "x.tsv"
    data.write_text("label\ttext\n1\t<script>alert(1)</script>差评\n0\t好评<b>\n", encoding="utf-8")
    report = evaluate_sets(TransformerScorer.load(tiny_model_dir, threads=1), {"x": data})
    assert "<script>alert" not in report.to_html() and "<b>" not in report.to_html()
