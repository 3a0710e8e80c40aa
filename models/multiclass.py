"""Multi-class figures of a scorer on labelled data: three-way polarity and the six emotions.

One ``ClassReport`` per task: n, accuracy, macro-F1, per-class precision / recall / F1 with the
number of true and predicted rows, and the confusion matrix (rows true, columns predicted, in the
order of the classes). Macro-F1 averages the classes that occur in the truth or the predictions (as
scikit-learn's ``f1_score(average="macro")`` and the multi-task trainer's dev figures do): a class
absent from both says nothing about the scorer, and counting it as F1 = 0 would only punish a
small file. Per-class figures are listed for every class, absent ones with support 0.

Class names are English in JSON (``nlp.schema.LABELS`` and ``EMOTIONS``); the Markdown and HTML show
the names a person reads (the Chinese emotion names of ``nlp.schema.EMOTION_NAMES``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from nlp.schema import EMOTION_NAMES, EMOTIONS, LABELS

THREE_WAY = "three_way"
EMOTION = "emotion"
TASK_TITLES = {THREE_WAY: "Three-way polarity", EMOTION: "Emotion (6 classes)"}


@dataclass(frozen=True)
class ClassFigures:
    """One class: precision, recall and F1 (0 where undefined), true rows and predicted rows."""

    label: str
    name: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@dataclass(frozen=True)
class ClassReport:
    """Figures of one multi-class task; `confusion[i][j]` = rows of class i predicted as class j."""

    task: str
    classes: tuple[str, ...]
    names: tuple[str, ...]
    n: int
    accuracy: float
    macro_f1: float
    per_class: tuple[ClassFigures, ...]
    confusion: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (rounded to 4 decimals) and the confusion matrix with its class names."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "classes": list(self.classes),
            "per_class": {
                c.label: {
                    "name": c.name,
                    "precision": round(c.precision, 4),
                    "recall": round(c.recall, 4),
                    "f1": round(c.f1, 4),
                    "support": c.support,
                    "predicted": c.predicted,
                }
                for c in self.per_class
            },
            "confusion": {
                "rows": "true class, in the order of classes",
                "columns": "predicted class, in the order of classes",
                "matrix": [list(row) for row in self.confusion],
            },
        }

    def markdown_lines(self) -> list[str]:
        """The figures, the per-class table and the confusion matrix as Markdown lines."""
        lines = [
            f"- texts: {self.n}",
            f"- accuracy: **{self.accuracy:.2%}**",
            f"- macro-F1: {self.macro_f1:.4f}",
            "",
            "| class | precision | recall | F1 | true | predicted |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {c.name} | {c.precision:.4f} | {c.recall:.4f} | {c.f1:.4f} | {c.support} | {c.predicted} |"
            for c in self.per_class
        ]
        lines += [
            "",
            "| true \\ predicted | " + " | ".join(self.names) + " |",
            "|---|" + "---:|" * len(self.names),
        ]
        lines += [
            f"| {name} | " + " | ".join(str(v) for v in row) + " |"
            for name, row in zip(self.names, self.confusion, strict=True)
        ]
        return lines

    def to_html(self) -> str:
        """The per-class table and the confusion matrix as HTML tables."""
        esc = html.escape
        per_class = "".join(
            f"<tr><th>{esc(c.name)}</th><td>{c.precision:.4f}</td><td>{c.recall:.4f}</td><td>{c.f1:.4f}</td>"
            f"<td>{c.support}</td><td>{c.predicted}</td></tr>"
            for c in self.per_class
        )
        head = "".join(f"<th>{esc(name)}</th>" for name in self.names)
        matrix = "".join(
            f"<tr><th>{esc(name)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
            for name, row in zip(self.names, self.confusion, strict=True)
        )
        return (
            f"<p>{self.n} texts, accuracy {self.accuracy:.2%}, macro-F1 {self.macro_f1:.4f}.</p>"
            "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>true</th>"
            f"<th>predicted</th></tr>{per_class}</table>"
            f"<table><tr><th>true \\ predicted</th>{head}</tr>{matrix}</table>"
        )


def class_report(
    task: str, truth: Sequence[int], predicted: Sequence[int], classes: Sequence[str], names: Sequence[str]
) -> ClassReport:
    """The figures of `predicted` against `truth`, both class indices into `classes` (shown as `names`)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} labels")
    if len(classes) != len(names):
        raise ValueError(f"{len(names)} names for {len(classes)} classes")
    y_true = np.asarray(truth, dtype=np.int64)
    y_pred = np.asarray(predicted, dtype=np.int64)
    every = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=every, average=None, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=every)
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    per_class = tuple(
        ClassFigures(
            classes[k],
            names[k],
            float(precision[k]),
            float(recall[k]),
            float(f1[k]),
            int(support[k]),
            int(matrix[:, k].sum()),
        )
        for k in every
    )
    return ClassReport(
        task=task,
        classes=tuple(classes),
        names=tuple(names),
        n=len(y_true),
        accuracy=float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        macro_f1=float(np.mean([f1[k] for k in present])) if present else 0.0,
        per_class=per_class,
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
    )


def three_way_report(truth: Sequence[int], predicted: Sequence[int]) -> ClassReport:
    """Three-way polarity figures; indices into ``nlp.schema.LABELS`` (negative, neutral, positive)."""
    return class_report(THREE_WAY, truth, predicted, LABELS, LABELS)


def emotion_report(truth: Sequence[int], predicted: Sequence[int]) -> ClassReport:
    """Emotion figures; indices into ``nlp.schema.EMOTIONS``, shown with their Chinese names."""
    return class_report(EMOTION, truth, predicted, EMOTIONS, [EMOTION_NAMES[e] for e in EMOTIONS])


__all__ = [
    "EMOTION",
    "TASK_TITLES",
    "THREE_WAY",
    "ClassFigures",
    "ClassReport",
    "class_report",
    "emotion_report",
    "three_way_report",
]
