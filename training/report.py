"""The evaluation report of a model on several labelled sets: Markdown, self-contained HTML and JSON.

Per set: accuracy, macro-F1, ROC-AUC, the confusion matrix, a calibration curve and the examples
the model gets most confidently wrong (built on ``models.evaluate.EvalReport``); for a set with
three-way labels or emotions, also the three-way and emotion figures with their confusion matrices
(``models.evaluate.Evaluation``, ``models.multiclass``). The binary figures and the calibration of a
three-way set are those of its non-neutral rows; a set with emotions only has neither. Calibration is
about P(positive) = 1 − negative_probability: texts are put in equal-width bins of predicted
probability, and each bin's mean prediction is set against the share of positive texts in it; a
calibrated model lies on the diagonal. ECE is the count-weighted mean gap, Brier the mean squared
error of the probability. The HTML draws the curve as inline SVG (no script, no external file).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.evaluate import (
    WORST_EXAMPLES,
    EvalReport,
    Evaluation,
    evaluation_from_scores,
    read_labelled,
    score_labelled,
)
from models.multiclass import TASK_TITLES, ClassReport
from nlp.sentiment import SentimentScorer

CALIBRATION_BINS = 10
REPORT_FILES = ("report.md", "report.html", "report.json")
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass(frozen=True)
class CalibrationBin:
    """Texts whose predicted P(positive) falls in [low, high)."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float


@dataclass(frozen=True)
class Calibration:
    """Reliability table (non-empty bins), expected calibration error and Brier score."""

    bins: tuple[CalibrationBin, ...]
    ece: float
    brier: float


def calibration(
    p_negative: npt.NDArray[np.float64], labels: Sequence[int], bins: int = CALIBRATION_BINS
) -> Calibration:
    """Reliability of P(positive) = 1 − p_negative against 0/1 labels (1 = positive)."""
    p_positive = 1.0 - np.asarray(p_negative, dtype=np.float64)
    truth = np.asarray(labels, dtype=np.float64)
    # The last bin is closed so that P = 1.0 lands in it; the epsilon keeps 1 - 0.9 (= 0.0999…) on its edge.
    index = np.minimum(np.floor(p_positive * bins + 1e-9).astype(np.int64), bins - 1)
    table = []
    gap = 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if count == 0:
            continue
        predicted, observed = float(p_positive[members].mean()), float(truth[members].mean())
        gap += count * abs(predicted - observed)
        table.append(CalibrationBin(b / bins, (b + 1) / bins, count, predicted, observed))
    n = max(1, len(truth))
    return Calibration(tuple(table), gap / n, float(np.mean((p_positive - truth) ** 2)) if len(truth) else 0.0)


@dataclass(frozen=True)
class SetReport:
    """One labelled set: every figure, and the calibration (None for a set with emotions only)."""

    name: str
    evaluation: Evaluation
    calibration: Calibration | None

    @property
    def report(self) -> EvalReport:
        """The binary figures (the registry stores these); ValueError for a set with emotions only."""
        if self.evaluation.binary is None:
            raise ValueError(f"{self.name}: a set with emotions only has no binary figures")
        return self.evaluation.binary


@dataclass(frozen=True)
class ModelReport:
    """A model version on several labelled sets."""

    model_version: str
    sets: tuple[SetReport, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "model_version": self.model_version,
            "sets": {
                s.name: {**s.evaluation.to_dict(), "calibration": _calibration_dict(s.calibration)} for s in self.sets
            },
        }

    def to_markdown(self) -> str:
        """The report as Markdown."""
        lines = [
            f"# Evaluation of {self.model_version}",
            "",
            "| set | n | accuracy | macro-F1 | ROC-AUC | ECE | Brier | three-way macro-F1 | emotion macro-F1 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {' | '.join(_summary_cells(s))} |" for s in self.sets]
        lines += [
            "",
            "Decision: p_negative ≥ 0.5 → negative. Calibration is of P(positive). The binary figures of a "
            "three-way set are those of its non-neutral rows.",
            "",
        ]
        for s in self.sets:
            e = s.evaluation
            lines += [f"## {s.name}", "", f"Data: `{e.data}` (sha256 `{e.data_sha256[:16]}…`), {e.rows} texts.", ""]
            if e.three_way is not None:
                lines += [f"### {TASK_TITLES[e.three_way.task]}", "", *e.three_way.markdown_lines(), ""]
            if e.binary is not None and s.calibration is not None:
                r = e.binary
                if e.label_kind == "three-way":
                    lines += [f"### Negative vs positive ({r.n} non-neutral rows)", "", *r.figure_lines(), ""]
                lines += [*r.confusion_markdown(), "", "Calibration (reliability table):", ""]
                lines += ["| P(positive) bin | texts | mean predicted | share positive |", "|---|---:|---:|---:|"]
                lines += [
                    f"| {b.low:.1f}–{b.high:.1f} | {b.count} | {b.mean_predicted:.3f} | {b.observed:.3f} |"
                    for b in s.calibration.bins
                ]
                lines += ["", f"Most confident mistakes ({len(r.worst)}):", ""]
                if r.worst:
                    lines += ["| row | label | p_negative | text |", "|---:|---|---:|---|"]
                    for x in r.worst:
                        text = x.text.replace("|", "\\|").replace("\n", " ")
                        lines.append(f"| {x.row} | {_label(x.label)} | {x.negative_probability:.3f} | {text} |")
                lines.append("")
            if e.emotion is not None:
                lines += [f"### {TASK_TITLES[e.emotion.task]}", "", *e.emotion.markdown_lines(), ""]
            elif e.emotion_note:
                lines += [f"### {TASK_TITLES['emotion']}", "", e.emotion_note, ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The report as one self-contained HTML page with the calibration curve as inline SVG."""
        esc = html.escape
        rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _summary_cells(s)) + "</tr>" for s in self.sets)
        sections = []
        for s in self.sets:
            e = s.evaluation
            parts = [f"<h2>{esc(s.name)}</h2><p>Data: <code>{esc(e.data)}</code>, {e.rows} texts.</p>"]
            if e.three_way is not None:
                parts.append(f"<h3>{TASK_TITLES[e.three_way.task]}</h3>{e.three_way.to_html()}")
            if e.binary is not None and s.calibration is not None:
                parts.append(_binary_html(e.binary, s.calibration, e.label_kind == "three-way"))
            if e.emotion is not None:
                parts.append(f"<h3>{TASK_TITLES[e.emotion.task]}</h3>{e.emotion.to_html()}")
            elif e.emotion_note:
                parts.append(f"<h3>{TASK_TITLES['emotion']}</h3><p>{esc(e.emotion_note)}</p>")
            sections.append("".join(parts))
        return (
            '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">'
            f"<title>Evaluation of {esc(self.model_version)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;margin:.5em 0}"
            "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}td:last-child{text-align:left}"
            "</style></head><body>"
            f"<h1>Evaluation of {esc(self.model_version)}</h1>"
            "<table><tr><th>set</th><th>n</th><th>accuracy</th><th>macro-F1</th><th>ROC-AUC</th><th>ECE</th>"
            f"<th>Brier</th><th>three-way macro-F1</th><th>emotion macro-F1</th></tr>{rows}</table>"
            "<p>Decision: p_negative ≥ 0.5 → negative. Calibration is of P(positive). The binary figures of a "
            "three-way set are those of its non-neutral rows.</p>"
            f"<h2>Calibration curve</h2>{calibration_svg(self.sets)}{''.join(sections)}</body></html>\n"
        )


def _auc(report: EvalReport) -> str:
    return "n/a" if report.roc_auc is None else f"{report.roc_auc:.4f}"


def _macro(report: ClassReport | None) -> str:
    return "–" if report is None else f"{report.macro_f1:.4f}"


def _summary_cells(s: SetReport) -> list[str]:
    """A set's row of the summary table: n (every row), the binary figures and calibration ("–" for a
    set with emotions only), three-way and emotion macro-F1 ("–" where the set or scorer has none)."""
    e, r, c = s.evaluation, s.evaluation.binary, s.calibration
    binary = (
        ["–"] * 6
        if r is None or c is None
        else [f"{r.n}", f"{r.accuracy:.2%}", f"{r.macro_f1:.4f}", _auc(r), f"{c.ece:.4f}", f"{c.brier:.4f}"]
    )
    binary[0] = f"{e.rows}"
    return [s.name, *binary, _macro(e.three_way), _macro(e.emotion)]


def _calibration_dict(c: Calibration | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "ece": round(c.ece, 4),
        "brier": round(c.brier, 4),
        "bins": [
            {
                "low": b.low,
                "high": b.high,
                "count": b.count,
                "mean_predicted": round(b.mean_predicted, 4),
                "observed": round(b.observed, 4),
            }
            for b in c.bins
        ],
    }


def _binary_html(r: EvalReport, c: Calibration, non_neutral: bool) -> str:
    """The binary confusion matrix, calibration table and most confident mistakes of one set (with
    the figures first when they are a three-way set's non-neutral rows)."""
    esc = html.escape
    (tn, fp), (fn, tp) = r.confusion
    bins = "".join(
        f"<tr><td>{b.low:.1f}–{b.high:.1f}</td><td>{b.count}</td><td>{b.mean_predicted:.3f}</td>"
        f"<td>{b.observed:.3f}</td></tr>"
        for b in c.bins
    )
    worst = "".join(
        f"<tr><td>{x.row}</td><td>{_label(x.label)}</td><td>{x.negative_probability:.3f}</td><td>{esc(x.text)}</td></tr>"
        for x in r.worst
    )
    scope = ""
    if non_neutral:
        scope = (
            f"<h3>Negative vs positive ({r.n} non-neutral rows)</h3><p>accuracy {r.accuracy:.2%}, "
            f"macro-F1 {r.macro_f1:.4f}, ROC-AUC {_auc(r)}</p>"
        )
    return (
        f"{scope}<h3>Confusion matrix</h3><table><tr><th>true \\ predicted</th><th>negative</th><th>positive</th></tr>"
        f"<tr><th>negative</th><td>{tn}</td><td>{fp}</td></tr>"
        f"<tr><th>positive</th><td>{fn}</td><td>{tp}</td></tr></table>"
        "<h3>Calibration</h3><table><tr><th>P(positive) bin</th><th>texts</th><th>mean predicted</th>"
        f"<th>share positive</th></tr>{bins}</table>"
        f"<h3>Most confident mistakes ({len(r.worst)})</h3>"
        "<table><tr><th>row</th><th>label</th><th>p_negative</th><th>text</th></tr>"
        f"{worst}</table>"
    )


def _label(label: int) -> str:
    return "positive" if label == 1 else "negative"


def calibration_svg(sets: Sequence[SetReport], size: int = 320) -> str:
    """Reliability diagram: mean predicted P(positive) (x) against the share positive (y), one line
    per set, points sized by their bin's count, with the diagonal of perfect calibration."""
    pad = 40
    span = size - 2 * pad

    def xy(p: float, q: float) -> tuple[float, float]:
        return pad + p * span, size - pad - q * span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 160}" height="{size}" role="img" '
        'aria-label="calibration curve">',
        f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="none" stroke="#999"/>',
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#999" stroke-dasharray="4 4"/>',
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle" font-size="12">mean predicted P(positive)</text>',
        f'<text x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})" text-anchor="middle" '
        'font-size="12">share positive</text>',
    ]
    for tick in (0.0, 0.5, 1.0):
        x, y = xy(tick, tick)
        parts.append(f'<text x="{x}" y="{size - pad + 14}" text-anchor="middle" font-size="10">{tick:g}</text>')
        parts.append(f'<text x="{pad - 6}" y="{y + 4}" text-anchor="end" font-size="10">{tick:g}</text>')
    for i, s in enumerate(sets):
        colour = _COLOURS[i % len(_COLOURS)]
        bins = () if s.calibration is None else s.calibration.bins
        points = [xy(b.mean_predicted, b.observed) for b in bins]
        total = max(1, sum(b.count for b in bins))
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for (x, y), b in zip(points, bins, strict=True):
            radius = 2.5 + 6.0 * (b.count / total) ** 0.5
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}" fill-opacity="0.6"/>')
        parts.append(
            f'<text x="{size + 4}" y="{pad + 16 * i + 10}" font-size="12" fill="{colour}">{html.escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def evaluate_sets(scorer: SentimentScorer, sets: Mapping[str, Path], *, worst: int = WORST_EXAMPLES) -> ModelReport:
    """Score every labelled set (texts normalised as the pipeline does) and build the report."""
    reports = []
    for name, path in sets.items():
        labelled = read_labelled(path)
        scores = score_labelled(scorer, labelled)
        evaluation = evaluation_from_scores(labelled, scores, scorer.version, True, worst)
        binary = labelled.binary()
        fit = None
        if binary is not None:
            fit = calibration(scores.p_negative[list(labelled.non_neutral())], binary.labels)
        reports.append(SetReport(name, evaluation, fit))
    return ModelReport(scorer.version, tuple(reports))


def write_model_report(report: ModelReport, out_dir: Path) -> tuple[Path, ...]:
    """Write report.md, report.html and report.json into `out_dir` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, page, data = (out_dir / name for name in REPORT_FILES)
    md.write_text(report.to_markdown(), encoding="utf-8")
    page.write_text(report.to_html(), encoding="utf-8")
    data.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return md, page, data


__all__ = [
    "Calibration",
    "CalibrationBin",
    "ModelReport",
    "SetReport",
    "calibration",
    "calibration_svg",
    "evaluate_sets",
    "write_model_report",
]
