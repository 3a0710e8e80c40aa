"""Evaluate a sentiment scorer on a labelled CSV/TSV file: accuracy, macro-F1, ROC-AUC, confusion
matrix, and the examples it gets most wrong; written as report.json and report.md.

The file has a header with a text column (``text``, ``text_a``, ``review``, ``sentence``, ``content``,
``评论``, ``内容``, ``文本``) and a 0/1 label column (``label``, ``sentiment``, ``标签``...), 1 = positive,
as ChnSentiCorp, waimai_10k, online_shopping_10_cats and the pool's eval_*.tsv are. The delimiter
(tab, comma, semicolon, bar) and the encoding (UTF-8 with or without BOM, GB18030, Big5) are
detected. A bad row (label not 0/1, empty text, wrong number of fields) rejects the file with an
InputError naming the file, row and field: a silently skipped row would change the figures.

Texts are normalised (``nlp.normalize.normalize``) before scoring, as the pipeline does, so the
figures are those a user of ``kesheng`` gets. The binary decision is p_negative ≥ 0.5 → negative;
the neutral band of SentimentConfig is a presentation choice and is not part of these metrics.

The CLI (``kesheng evaluate --data FILE [--model DIR] [--json]``) is a thin edge over ``evaluate``
and ``write_report``. It lives in ``models`` because the registry's promotion gate scores versions
on the golden sets with it; training and the CLI import it from here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

from nlp.errors import InputError, Location
from nlp.normalize import normalize
from nlp.readers.encoding import decode_bytes
from nlp.sentiment import SentimentScorer

TEXT_COLUMNS = ("text", "text_a", "review", "sentence", "content", "comment", "评论", "内容", "文本", "评价")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity", "y", "标签", "情感", "极性")
DELIMITERS = ("\t", ",", ";", "|")
LABEL_VALUES = {"1": 1, "0": 0, "1.0": 1, "0.0": 0}
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
# How many misclassified examples the report lists, and how much of each text it quotes.
WORST_EXAMPLES = 20
QUOTE_CHARS = 160


@runtime_checkable
class ProbabilityScorer(Protocol):
    """A scorer that returns negative probabilities as an array (TransformerScorer does): faster
    for evaluation than building a Sentiment per text."""

    version: str

    def negative_probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class LabelledData:
    """Texts and 0/1 labels (1 = positive) read from one file, with each text's row number."""

    file: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    rows: tuple[int, ...]
    text_column: str
    label_column: str
    sha256: str


@dataclass(frozen=True)
class Example:
    """A misclassified text: where it is, its true label, and the model's negative probability."""

    row: int
    text: str
    label: int
    negative_probability: float


@dataclass(frozen=True)
class EvalReport:
    """Figures of one scorer on one labelled file. Confusion: rows true negative/positive, columns
    predicted negative/positive. ROC-AUC is None when the file holds only one class."""

    data: str
    data_sha256: str
    model_version: str
    n: int
    positives: int
    accuracy: float
    macro_f1: float
    roc_auc: float | None
    confusion: tuple[tuple[int, int], tuple[int, int]]
    worst: tuple[Example, ...]
    seconds: float
    normalized: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (rounded to 4 decimals), the confusion matrix and the worst examples."""
        out = asdict(self)
        for key in ("accuracy", "macro_f1", "roc_auc"):
            out[key] = None if out[key] is None else round(out[key], 4)
        out["seconds"] = round(self.seconds, 2)
        out["texts_per_second"] = round(self.n / self.seconds, 1) if self.seconds > 0 else None
        out["confusion"] = {
            "rows": "true negative, true positive",
            "columns": "predicted negative, predicted positive",
            "matrix": [list(row) for row in self.confusion],
        }
        out["worst"] = [{**asdict(e), "negative_probability": round(e.negative_probability, 4)} for e in self.worst]
        return out

    def confusion_markdown(self) -> list[str]:
        """The confusion matrix as Markdown table lines."""
        (tn, fp), (fn, tp) = self.confusion
        return [
            "| true \\ predicted | negative | positive |",
            "|---|---:|---:|",
            f"| negative | {tn} | {fp} |",
            f"| positive | {fn} | {tp} |",
        ]

    def to_markdown(self) -> str:
        """A short human-readable report: figures, confusion matrix, most confident mistakes."""
        auc = "n/a (one class only)" if self.roc_auc is None else f"{self.roc_auc:.4f}"
        lines = [
            f"# Evaluation of {self.model_version} on {Path(self.data).name}",
            "",
            f"- data: `{self.data}` (sha256 `{self.data_sha256[:16]}…`)",
            f"- texts: {self.n}, of which {self.positives} positive",
            f"- texts normalised as the pipeline does: {'yes' if self.normalized else 'no'}",
            f"- accuracy: **{self.accuracy:.2%}**",
            f"- macro-F1: {self.macro_f1:.4f}",
            f"- ROC-AUC: {auc}",
            f"- time: {self.seconds:.1f} s ({self.n / self.seconds:.0f} texts/s)" if self.seconds > 0 else "",
            "",
            *self.confusion_markdown(),
            "",
            "Decision: p_negative ≥ 0.5 → negative.",
            "",
        ]
        if self.worst:
            lines += [
                f"## Most confident mistakes ({len(self.worst)})",
                "",
                "| row | label | p_negative | text |",
                "|---:|---|---:|---|",
            ]
            for e in self.worst:
                text = e.text.replace("|", "\\|").replace("\n", " ")
                label = "positive" if e.label == 1 else "negative"
                lines.append(f"| {e.row} | {label} | {e.negative_probability:.3f} | {text} |")
        return "\n".join(lines) + "\n"


def _find_column(headers: Sequence[str], names: Sequence[str]) -> int | None:
    keys = [h.strip().lstrip("\ufeff").lower() for h in headers]
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


def _delimiter(header_line: str, suffix: str) -> str:
    """The delimiter whose split of the header finds both a text and a label column; the file's
    extension breaks ties (a TSV header can hold a comma, a CSV header a tab rarely)."""
    preferred = "\t" if suffix in {".tsv", ".tab"} else ","
    for delimiter in (preferred, *[d for d in DELIMITERS if d != preferred]):
        headers = next(csv.reader([header_line], delimiter=delimiter))
        if _find_column(headers, TEXT_COLUMNS) is not None and _find_column(headers, LABEL_COLUMNS) is not None:
            return delimiter
    return preferred


def find_column(headers: Sequence[str], names: Sequence[str]) -> int | None:
    """Index of the first of `names` among `headers` (trimmed, BOM and case ignored), or None."""
    return _find_column(headers, names)


def detect_delimiter(header_line: str, suffix: str) -> str:
    """The delimiter of a labelled table, from its header line and file extension (as read_labelled)."""
    return _delimiter(header_line, suffix)


def read_labelled(path: Path) -> LabelledData:
    """Read a labelled CSV/TSV; InputError names the file, row and field of the first bad row."""
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(Location(file), f"cannot read the file: {error.strerror}") from error
    text, _encoding = decode_bytes(data, file)
    header_line = text.split("\n", 1)[0]
    delimiter = _delimiter(header_line, path.suffix.lower())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers = next(reader)
    text_index = _find_column(headers, TEXT_COLUMNS)
    label_index = _find_column(headers, LABEL_COLUMNS)
    if text_index is None or label_index is None:
        missing = "text" if text_index is None else "label"
        names = TEXT_COLUMNS if text_index is None else LABEL_COLUMNS
        raise InputError(
            Location(file, 1),
            f"no {missing} column: the header is {headers!r}; name it one of {', '.join(names)}",
        )
    text_name, label_name = headers[text_index].strip(), headers[label_index].strip()
    texts: list[str] = []
    labels: list[int] = []
    rows: list[int] = []
    row = reader.line_num
    for cells in reader:
        row_start, row = row + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) != len(headers):
            raise InputError(
                Location(file, row_start),
                f"row has {len(cells)} fields but the header has {len(headers)} "
                f"(delimiter {delimiter!r}); quote fields that contain it",
            )
        label = LABEL_VALUES.get(cells[label_index].strip())
        if label is None:
            raise InputError(
                Location(file, row_start, label_name),
                f"label must be 0 (negative) or 1 (positive), got {cells[label_index]!r}",
            )
        value = cells[text_index].lstrip("\ufeff")
        if not value.strip():
            raise InputError(Location(file, row_start, text_name), "empty text; remove the row or fill it")
        texts.append(value)
        labels.append(label)
        rows.append(row_start)
    if not texts:
        raise InputError(Location(file), "no labelled rows under the header")
    return LabelledData(
        file,
        tuple(texts),
        tuple(labels),
        tuple(rows),
        text_name,
        label_name,
        hashlib.sha256(data).hexdigest(),
    )


def negative_probabilities(scorer: SentimentScorer, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """Negative probabilities of `texts` from any scorer (the array path when it has one)."""
    if isinstance(scorer, ProbabilityScorer):
        return np.asarray(scorer.negative_probabilities(texts), dtype=np.float64)
    return np.asarray([s.negative_probability for s in scorer.score(texts)], dtype=np.float64)


def evaluate(
    scorer: SentimentScorer, data: Path, *, normalize_text: bool = True, worst: int = WORST_EXAMPLES
) -> EvalReport:
    """Score every text of a labelled file and compute the figures; see the module docstring."""
    labelled = read_labelled(data)
    texts = [normalize(t) for t in labelled.texts] if normalize_text else list(labelled.texts)
    start = time.perf_counter()
    p_negative = negative_probabilities(scorer, texts)
    seconds = time.perf_counter() - start
    return report_from_probabilities(labelled, p_negative, scorer.version, seconds, normalize_text, worst)


def report_from_probabilities(
    labelled: LabelledData,
    p_negative: npt.NDArray[np.float64],
    model_version: str,
    seconds: float = 0.0,
    normalized: bool = True,
    worst: int = WORST_EXAMPLES,
) -> EvalReport:
    """The report for given negative probabilities (one per text of `labelled`)."""
    if len(p_negative) != len(labelled.texts):
        raise ValueError(f"{len(p_negative)} probabilities for {len(labelled.texts)} texts")
    y_true = np.asarray(labelled.labels, dtype=np.int64)
    y_pred = (p_negative < 0.5).astype(np.int64)  # 1 = positive; p_negative >= 0.5 is negative
    matrix = confusion_matrix(y_true, y_pred, labels=[0, 1])
    both_classes = len(set(labelled.labels)) == 2
    # Confidence in the wrong class: p_negative for a positive text, 1 - p_negative for a negative one.
    wrongness = np.where(y_true == 1, p_negative, 1.0 - p_negative)
    mistakes = [int(i) for i in np.argsort(-wrongness, kind="stable") if y_pred[i] != y_true[i]][:worst]
    return EvalReport(
        data=labelled.file,
        data_sha256=labelled.sha256,
        model_version=model_version,
        n=len(y_true),
        positives=int(y_true.sum()),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=[0, 1], average="macro", zero_division=0)),
        roc_auc=float(roc_auc_score(y_true, 1.0 - p_negative)) if both_classes else None,
        confusion=((int(matrix[0, 0]), int(matrix[0, 1])), (int(matrix[1, 0]), int(matrix[1, 1]))),
        worst=tuple(
            Example(labelled.rows[i], labelled.texts[i][:QUOTE_CHARS], labelled.labels[i], float(p_negative[i]))
            for i in mistakes
        ),
        seconds=seconds,
        normalized=normalized,
    )


def write_report(report: EvalReport, out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.md into `out_dir` (created); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / REPORT_JSON, out_dir / REPORT_MD
    json_path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(report.to_markdown(), encoding="utf-8")
    return json_path, md_path


__all__ = [
    "EvalReport",
    "Example",
    "LabelledData",
    "ProbabilityScorer",
    "detect_delimiter",
    "evaluate",
    "find_column",
    "negative_probabilities",
    "read_labelled",
    "report_from_probabilities",
    "write_report",
]
