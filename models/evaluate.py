"""Evaluate a sentiment scorer on a labelled CSV/TSV file: binary figures (accuracy, macro-F1, ROC-AUC,
confusion matrix, the examples it gets most wrong), three-way polarity and emotion figures (see
``models.multiclass``); written as report.json and report.md.

The file has a header with a text column (``text``, ``text_a``, ``review``, ``sentence``, ``content``,
``评论``, ``内容``, ``文本``) and a polarity label column (``label``, ``sentiment``, ``标签``...), an
emotion column (``emotion``, ``情绪``), or both. Polarity labels are

- binary: 0 / 1, 1 = positive, as ChnSentiCorp, waimai_10k, online_shopping_10_cats and the pool's
  eval_*.tsv are;
- three-way: negative / neutral / positive, 负面 / 中性 / 正面, or the numbers 0 / 1 / 2. The
  numbers are read by one rule over the whole file: a file whose label column holds a 2 anywhere is
  three-way, 0 negative / 1 neutral / 2 positive (JDDC's satisfaction scale); one with only 0 and 1
  is binary, 1 positive. Words and numbers do not mix in one file.

Emotions are the six classes of ``nlp.schema.EMOTIONS`` (angry, sad, fear, surprise, happy, neutral)
or their Chinese names (愤怒, 失望, 焦虑, 惊讶, 满意, 中性). The delimiter (tab, comma, semicolon, bar)
and the encoding (UTF-8 with or without BOM, GB18030, Big5) are detected. A bad row (a label or
emotion not listed above, an empty text, a wrong number of fields) rejects the file with an
InputError naming the file, row and field: a silently skipped row would change the figures.

Texts are normalised (``nlp.normalize.normalize``) before scoring, as the pipeline does, so the
figures are those a user of ``kesheng`` gets. The binary decision is p_negative ≥ 0.5 → negative;
binary files get exactly these figures. A three-way file gets its three-way figures from the
scorer's ``Sentiment.label`` and, on its non-neutral rows, the same binary figures a binary file of
those rows would get. Emotion figures compare the column with ``Sentiment.emotion.label``; a scorer
that gives no emotions gets a note saying so, not figures.

The CLI (``kesheng evaluate --data FILE [--model DIR] [--json]``) is a thin edge over ``evaluate_file``
and ``write_report``. It lives in ``models`` because the registry's promotion gate scores versions
on the golden sets with it (``evaluate``: the binary figures); training and the CLI import it from here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score

from models.multiclass import TASK_TITLES, ClassReport, emotion_report, three_way_report
from nlp.errors import InputError, Location
from nlp.normalize import normalize
from nlp.readers.encoding import decode_bytes
from nlp.schema import EMOTION_NAMES, EMOTIONS, LABELS, Sentiment
from nlp.sentiment import SentimentScorer

TEXT_COLUMNS = ("text", "text_a", "review", "sentence", "content", "comment", "评论", "内容", "文本", "评价")
LABEL_COLUMNS = ("label", "labels", "sentiment", "polarity", "y", "标签", "情感", "极性")
EMOTION_COLUMNS = ("emotion", "emotions", "情绪")
DELIMITERS = ("\t", ",", ";", "|")
LABEL_VALUES = {"1": 1, "0": 0, "1.0": 1, "0.0": 0}
# Three-way labels: words (English lower-cased, or Chinese), or numbers in a file that holds a 2.
POLARITY_WORDS = {"negative": 0, "neutral": 1, "positive": 2, "负面": 0, "中性": 1, "正面": 2}
THREE_WAY_NUMBERS = {"0": 0, "1": 1, "2": 2, "0.0": 0, "1.0": 1, "2.0": 2}
EMOTION_VALUES: dict[str, int] = {
    **{e: i for i, e in enumerate(EMOTIONS)},
    **{EMOTION_NAMES[e]: i for i, e in enumerate(EMOTIONS)},
}
NEUTRAL = LABELS.index("neutral")
POSITIVE = LABELS.index("positive")
LABEL_RULE = (
    "label must be 0 (negative) or 1 (positive), or three-way: negative/neutral/positive, 负面/中性/正面, "
    "or 0/1/2 (a file with a 2 in its label column reads 0 negative, 1 neutral, 2 positive)"
)
EMOTION_RULE = "emotion must be one of " + ", ".join(EMOTIONS) + " or " + ", ".join(EMOTION_NAMES[e] for e in EMOTIONS)
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
# How many misclassified examples the report lists, and how much of each text it quotes.
WORST_EXAMPLES = 20
QUOTE_CHARS = 160

LabelKind = Literal["binary", "three-way"]


@runtime_checkable
class ProbabilityScorer(Protocol):
    """A scorer that returns negative probabilities as an array (TransformerScorer does): faster
    for evaluation than building a Sentiment per text."""

    version: str

    def negative_probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class LabelledData:
    """Texts read from one labelled file, each text's row number, and its labels.

    `labels`: binary labels 0/1 (1 = positive), one per text, for a binary file; empty otherwise, so
    that a caller that needs 0/1 labels (training) cannot take three-way indices for them.
    `polarity`: three-way indices into ``nlp.schema.LABELS`` (0 negative, 1 neutral, 2 positive) for a
    three-way file, else None. `emotions`: indices into ``nlp.schema.EMOTIONS`` when the file has an
    emotion column, else None. `label_column` is None for a file with an emotion column only.
    """

    file: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    rows: tuple[int, ...]
    text_column: str
    label_column: str | None
    sha256: str
    polarity: tuple[int, ...] | None = None
    emotions: tuple[int, ...] | None = None
    emotion_column: str | None = None

    @property
    def label_kind(self) -> LabelKind | None:
        """ "binary", "three-way", or None for a file with emotions only."""
        if self.polarity is not None:
            return "three-way"
        return None if self.label_column is None else "binary"

    def non_neutral(self) -> tuple[int, ...]:
        """Positions of the texts labelled negative or positive (all of a binary file, none without labels)."""
        if self.polarity is not None:
            return tuple(i for i, p in enumerate(self.polarity) if p != NEUTRAL)
        return tuple(range(len(self.texts))) if self.label_column is not None else ()

    def binary(self) -> LabelledData | None:
        """The binary view: this data for a binary file; the non-neutral rows of a three-way file
        with 0/1 labels (1 = positive); None for a file without polarity labels."""
        if self.polarity is None:
            return self if self.label_column is not None else None
        keep = self.non_neutral()
        return replace(
            self,
            texts=tuple(self.texts[i] for i in keep),
            labels=tuple(int(self.polarity[i] == POSITIVE) for i in keep),
            rows=tuple(self.rows[i] for i in keep),
            polarity=None,
            emotions=None if self.emotions is None else tuple(self.emotions[i] for i in keep),
        )


@dataclass(frozen=True)
class Example:
    """A misclassified text: where it is, its true label, and the model's negative probability."""

    row: int
    text: str
    label: int
    negative_probability: float


@dataclass(frozen=True)
class EvalReport:
    """Binary figures of one scorer on one labelled file. Confusion: rows true negative/positive,
    columns predicted negative/positive. ROC-AUC is None when the file holds only one class."""

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

    def figure_lines(self) -> list[str]:
        """Accuracy, macro-F1 and ROC-AUC as Markdown list lines."""
        auc = "n/a (one class only)" if self.roc_auc is None else f"{self.roc_auc:.4f}"
        return [f"- accuracy: **{self.accuracy:.2%}**", f"- macro-F1: {self.macro_f1:.4f}", f"- ROC-AUC: {auc}"]

    def detail_lines(self, level: int = 2) -> list[str]:
        """The confusion matrix, the decision rule and the most confident mistakes (a heading of `level`)."""
        lines = [*self.confusion_markdown(), "", "Decision: p_negative ≥ 0.5 → negative.", ""]
        if self.worst:
            lines += [
                f"{'#' * level} Most confident mistakes ({len(self.worst)})",
                "",
                "| row | label | p_negative | text |",
                "|---:|---|---:|---|",
            ]
            for e in self.worst:
                text = e.text.replace("|", "\\|").replace("\n", " ")
                label = "positive" if e.label == 1 else "negative"
                lines.append(f"| {e.row} | {label} | {e.negative_probability:.3f} | {text} |")
        return lines

    def to_markdown(self) -> str:
        """A short human-readable report: figures, confusion matrix, most confident mistakes."""
        lines = [
            f"# Evaluation of {self.model_version} on {Path(self.data).name}",
            "",
            f"- data: `{self.data}` (sha256 `{self.data_sha256[:16]}…`)",
            f"- texts: {self.n}, of which {self.positives} positive",
            f"- texts normalised as the pipeline does: {'yes' if self.normalized else 'no'}",
            *self.figure_lines(),
            f"- time: {self.seconds:.1f} s ({self.n / self.seconds:.0f} texts/s)" if self.seconds > 0 else "",
            "",
            *self.detail_lines(),
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Evaluation:
    """Every figure of one scorer on one labelled file (see the module docstring).

    `binary`: on all rows of a binary file, the non-neutral rows of a three-way one, None for a file
    with emotions only. `three_way`: three-way files. `emotion`: files with an emotion column scored
    by a scorer that gives emotions; otherwise, for such a file, `emotion_note` says why there are none.
    """

    data: str
    data_sha256: str
    model_version: str
    rows: int
    label_kind: LabelKind | None
    binary: EvalReport | None
    three_way: ClassReport | None
    emotion: ClassReport | None
    emotion_note: str | None
    seconds: float
    normalized: bool

    @property
    def binary_rows(self) -> str | None:
        """Which rows the binary figures count: "all", "non-neutral", or None without binary figures."""
        if self.binary is None:
            return None
        return "non-neutral" if self.label_kind == "three-way" else "all"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report. The binary figures stay at the top level as they always were (their `n`
        counts the rows they cover, see `binary_rows`); `rows` counts every labelled row."""
        if self.binary is not None:
            out = self.binary.to_dict()
        else:
            out = {"data": self.data, "data_sha256": self.data_sha256, "model_version": self.model_version}
            out["normalized"] = self.normalized
        out["seconds"] = round(self.seconds, 2)
        out["texts_per_second"] = round(self.rows / self.seconds, 1) if self.seconds > 0 else None
        out["rows"] = self.rows
        out["labels"] = self.label_kind
        out["binary_rows"] = self.binary_rows
        out["three_way"] = None if self.three_way is None else self.three_way.to_dict()
        out["emotion"] = None if self.emotion is None else self.emotion.to_dict()
        out["emotion_note"] = self.emotion_note
        return out

    def section_lines(self, level: int = 2) -> list[str]:
        """The three-way, binary (of a three-way file) and emotion sections, headings of `level`."""
        h = "#" * level
        lines: list[str] = []
        if self.three_way is not None:
            lines += [f"{h} {TASK_TITLES[self.three_way.task]}", "", *self.three_way.markdown_lines(), ""]
            lines += ["Three-way label: the scorer's label (Sentiment.label).", ""]
        if self.binary is not None and self.label_kind == "three-way":
            b = self.binary
            lines += [f"{h} Negative vs positive ({b.n} non-neutral rows, {b.positives} positive)", ""]
            lines += [*b.figure_lines(), "", *b.detail_lines(level + 1)]
        if self.emotion is not None:
            lines += [f"{h} {TASK_TITLES[self.emotion.task]}", "", *self.emotion.markdown_lines(), ""]
            lines += ["Emotion: the scorer's emotion (Sentiment.emotion).", ""]
        elif self.emotion_note:
            lines += [f"{h} {TASK_TITLES['emotion']}", "", self.emotion_note, ""]
        return lines

    def to_markdown(self) -> str:
        """The report as Markdown: a binary file's report as it always was, then the other sections."""
        if self.label_kind == "binary" and self.binary is not None:
            head = self.binary.to_markdown().rstrip("\n").split("\n")
        else:
            kind = "three-way labels" if self.label_kind == "three-way" else "emotions only"
            head = [
                f"# Evaluation of {self.model_version} on {Path(self.data).name}",
                "",
                f"- data: `{self.data}` (sha256 `{self.data_sha256[:16]}…`)",
                f"- texts: {self.rows} ({kind})",
                f"- texts normalised as the pipeline does: {'yes' if self.normalized else 'no'}",
            ]
            if self.seconds > 0:
                head.append(f"- time: {self.seconds:.1f} s ({self.rows / self.seconds:.0f} texts/s)")
        sections = self.section_lines()
        return "\n".join([*head, *([""] if sections else []), *sections]).rstrip("\n") + "\n"


def _find_column(headers: Sequence[str], names: Sequence[str]) -> int | None:
    keys = [h.strip().lstrip("\ufeff").lower() for h in headers]
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


def _delimiter(header_line: str, suffix: str) -> str:
    """The delimiter whose split of the header finds a text and a label (or emotion) column; the
    file's extension breaks ties (a TSV header can hold a comma, a CSV header a tab rarely)."""
    preferred = "\t" if suffix in {".tsv", ".tab"} else ","
    for delimiter in (preferred, *[d for d in DELIMITERS if d != preferred]):
        headers = next(csv.reader([header_line], delimiter=delimiter))
        labelled = (
            _find_column(headers, LABEL_COLUMNS) is not None or _find_column(headers, EMOTION_COLUMNS) is not None
        )
        if _find_column(headers, TEXT_COLUMNS) is not None and labelled:
            return delimiter
    return preferred


def find_column(headers: Sequence[str], names: Sequence[str]) -> int | None:
    """Index of the first of `names` among `headers` (trimmed, BOM and case ignored), or None."""
    return _find_column(headers, names)


def detect_delimiter(header_line: str, suffix: str) -> str:
    """The delimiter of a labelled table, from its header line and file extension (as read_labelled)."""
    return _delimiter(header_line, suffix)


def _label_token(cell: str, where: Location, first: tuple[str, int] | None) -> str:
    """The label cell, checked: a known number or word, of the same kind as the file's first label."""
    token = cell.strip()
    word = token.lower() if token.lower() in POLARITY_WORDS else None
    if word is None and token not in THREE_WAY_NUMBERS:
        hint = ""
        if token.lower() in EMOTION_VALUES:
            hint = f"; {token!r} is an emotion: put emotions in a column named emotion or 情绪"
        raise InputError(where, f"{LABEL_RULE}; got {cell!r}{hint}")
    if first is not None and (word is None) != (first[0] in THREE_WAY_NUMBERS):
        raise InputError(
            where,
            f"label {token!r} and row {first[1]}'s {first[0]!r} mix words and numbers: "
            "write a file's labels all as numbers or all as words",
        )
    return token if word is None else word


def _polarity(tokens: Sequence[str]) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(binary labels, three-way indices or None) of checked label tokens, by the module's rule."""
    if not tokens:
        return (), None
    if tokens[0] in POLARITY_WORDS:
        return (), tuple(POLARITY_WORDS[t] for t in tokens)
    if any(THREE_WAY_NUMBERS[t] == 2 for t in tokens):
        return (), tuple(THREE_WAY_NUMBERS[t] for t in tokens)
    return tuple(LABEL_VALUES[t] for t in tokens), None


def read_labelled(path: Path) -> LabelledData:
    """Read a labelled CSV/TSV; InputError names the file, row and field of the first bad row.

    Polarity labels are binary 0/1 (1 = positive) or three-way: negative/neutral/positive,
    负面/中性/正面, or numbers 0/1/2, where a file whose label column holds a 2 anywhere is read as
    0 negative / 1 neutral / 2 positive and one with only 0 and 1 as binary. An emotion column
    (emotion, 情绪) holds angry/sad/fear/surprise/happy/neutral or 愤怒/失望/焦虑/惊讶/满意/中性.
    """
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
    emotion_index = _find_column(headers, EMOTION_COLUMNS)
    if text_index is None:
        raise InputError(
            Location(file, 1), f"no text column: the header is {headers!r}; name it one of {', '.join(TEXT_COLUMNS)}"
        )
    if label_index is None and emotion_index is None:
        raise InputError(
            Location(file, 1),
            f"no label column: the header is {headers!r}; name it one of {', '.join(LABEL_COLUMNS)} "
            f"(or give an emotion column: {', '.join(EMOTION_COLUMNS)})",
        )
    text_name = headers[text_index].strip()
    label_name = None if label_index is None else headers[label_index].strip()
    emotion_name = None if emotion_index is None else headers[emotion_index].strip()
    texts: list[str] = []
    tokens: list[str] = []
    emotions: list[int] = []
    rows: list[int] = []
    first: tuple[str, int] | None = None
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
        if label_index is not None:
            token = _label_token(cells[label_index], Location(file, row_start, label_name), first)
            first = first or (token, row_start)
            tokens.append(token)
        if emotion_index is not None:
            emotion = EMOTION_VALUES.get(cells[emotion_index].strip().lower())
            if emotion is None:
                raise InputError(
                    Location(file, row_start, emotion_name), f"{EMOTION_RULE}; got {cells[emotion_index]!r}"
                )
            emotions.append(emotion)
        value = cells[text_index].lstrip("\ufeff")
        if not value.strip():
            raise InputError(Location(file, row_start, text_name), "empty text; remove the row or fill it")
        texts.append(value)
        rows.append(row_start)
    if not texts:
        raise InputError(Location(file), "no labelled rows under the header")
    labels, polarity = _polarity(tokens)
    return LabelledData(
        file,
        tuple(texts),
        labels,
        tuple(rows),
        text_name,
        label_name,
        hashlib.sha256(data).hexdigest(),
        polarity=polarity,
        emotions=None if emotion_index is None else tuple(emotions),
        emotion_column=emotion_name,
    )


def negative_probabilities(scorer: SentimentScorer, texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """The negative probabilities binary figures compare, of `texts` from any scorer (the array path
    when it has one): P(negative | opinion) for a three-way model (nlp.schema.Sentiment's
    opinion_negative_probability), P(negative) for a two-class one."""
    opinion = getattr(scorer, "opinion_negative_probabilities", None)
    if opinion is not None:
        return np.asarray(opinion(texts), dtype=np.float64)
    if isinstance(scorer, ProbabilityScorer):
        return np.asarray(scorer.negative_probabilities(texts), dtype=np.float64)
    return np.asarray([s.opinion_negative_probability for s in scorer.score(texts)], dtype=np.float64)


@dataclass(frozen=True)
class Scores:
    """A scorer's reading of every text of a labelled file: P(negative) and, when the file has
    three-way labels or emotions, the Sentiments (None when the binary figures are all it needs)."""

    p_negative: npt.NDArray[np.float64]
    sentiments: tuple[Sentiment, ...] | None
    seconds: float


def score_labelled(scorer: SentimentScorer, labelled: LabelledData, *, normalize_text: bool = True) -> Scores:
    """Score the texts of `labelled` (normalised as the pipeline does unless told not to), timed."""
    texts = [normalize(t) for t in labelled.texts] if normalize_text else list(labelled.texts)
    start = time.perf_counter()
    if labelled.polarity is None and labelled.emotions is None:
        return Scores(negative_probabilities(scorer, texts), None, time.perf_counter() - start)
    sentiments = tuple(scorer.score(texts))
    p_negative = np.asarray([s.opinion_negative_probability for s in sentiments], dtype=np.float64)
    return Scores(p_negative, sentiments, time.perf_counter() - start)


def evaluate(
    scorer: SentimentScorer, data: Path, *, normalize_text: bool = True, worst: int = WORST_EXAMPLES
) -> EvalReport:
    """The binary figures of a labelled file (the promotion gate's): all rows of a binary file, the
    non-neutral rows of a three-way one. InputError for a file without polarity labels."""
    labelled = read_labelled(data)
    binary = labelled.binary()
    if binary is None:
        raise InputError(Location(str(data), 1), "no polarity labels (only emotions): no binary figures to give")
    scores = score_labelled(scorer, replace(binary, emotions=None), normalize_text=normalize_text)
    return report_from_probabilities(binary, scores.p_negative, scorer.version, scores.seconds, normalize_text, worst)


def evaluate_file(
    scorer: SentimentScorer, data: Path, *, normalize_text: bool = True, worst: int = WORST_EXAMPLES
) -> Evaluation:
    """Every figure the file's labels allow (binary, three-way, emotion); see the module docstring."""
    labelled = read_labelled(data)
    scores = score_labelled(scorer, labelled, normalize_text=normalize_text)
    return evaluation_from_scores(labelled, scores, scorer.version, normalize_text, worst)


def evaluation_from_scores(
    labelled: LabelledData,
    scores: Scores,
    model_version: str,
    normalized: bool = True,
    worst: int = WORST_EXAMPLES,
) -> Evaluation:
    """The Evaluation of given scores (one per text of `labelled`, from ``score_labelled``)."""
    if len(scores.p_negative) != len(labelled.texts):
        raise ValueError(f"{len(scores.p_negative)} probabilities for {len(labelled.texts)} texts")
    view = labelled.binary()
    binary = None
    if view is not None:
        keep = list(labelled.non_neutral())
        binary = report_from_probabilities(
            view, scores.p_negative[keep], model_version, scores.seconds, normalized, worst
        )
    sentiments = scores.sentiments
    if (labelled.polarity is not None or labelled.emotions is not None) and sentiments is None:
        raise ValueError("three-way and emotion figures need the scorer's Sentiments (score_labelled gives them)")
    three_way = None
    if labelled.polarity is not None and sentiments is not None:
        three_way = three_way_report(labelled.polarity, [LABELS.index(s.label) for s in sentiments])
    emotion, note = None, None
    if labelled.emotions is not None and sentiments is not None:
        read = [s.emotion for s in sentiments]
        missing = sum(e is None for e in read)
        if missing == 0:
            emotion = emotion_report(labelled.emotions, [EMOTIONS.index(e.label) for e in read if e is not None])
        elif missing == len(read):
            note = f"No emotion figures: the scorer {model_version} gives no emotions."
        else:
            note = (
                f"No emotion figures: the scorer {model_version} gives no emotion for {missing} of {len(read)} texts."
            )
    return Evaluation(
        data=labelled.file,
        data_sha256=labelled.sha256,
        model_version=model_version,
        rows=len(labelled.texts),
        label_kind=labelled.label_kind,
        binary=binary,
        three_way=three_way,
        emotion=emotion,
        emotion_note=note,
        seconds=scores.seconds,
        normalized=normalized,
    )


def report_from_probabilities(
    labelled: LabelledData,
    p_negative: npt.NDArray[np.float64],
    model_version: str,
    seconds: float = 0.0,
    normalized: bool = True,
    worst: int = WORST_EXAMPLES,
) -> EvalReport:
    """The binary report for given negative probabilities (one per text of `labelled`, a binary file
    or a three-way file's ``binary()`` view)."""
    if len(p_negative) != len(labelled.texts):
        raise ValueError(f"{len(p_negative)} probabilities for {len(labelled.texts)} texts")
    if len(labelled.labels) != len(labelled.texts):
        raise ValueError(f"{labelled.file}: not binary labels; use its binary() view")
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
        accuracy=float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
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


def write_report(report: EvalReport | Evaluation, out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.md into `out_dir` (created); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / REPORT_JSON, out_dir / REPORT_MD
    json_path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(report.to_markdown(), encoding="utf-8")
    return json_path, md_path


__all__ = [
    "EMOTION_COLUMNS",
    "EvalReport",
    "Evaluation",
    "Example",
    "LabelledData",
    "ProbabilityScorer",
    "Scores",
    "detect_delimiter",
    "evaluate",
    "evaluate_file",
    "evaluation_from_scores",
    "find_column",
    "negative_probabilities",
    "read_labelled",
    "report_from_probabilities",
    "score_labelled",
    "write_report",
]
