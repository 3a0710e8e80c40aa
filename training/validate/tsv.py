"""The files validation writes: the accepted rows as ``label<TAB>text`` (binary data, training.train's
format) or ``label<TAB>emotion<TAB>scope<TAB>text`` (three-way data), and that one read back."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from pathlib import Path

from nlp.errors import InputError, Location
from nlp.schema import EMOTIONS, LABELS
from training.pool import Example, write_tsv
from training.validate.report import TrainingExample

# The columns of a three-way training TSV: the scope says which polarity labels a row's file had.
LABELLED_COLUMNS = ("label", "emotion", "scope", "text")


def write_clean_tsv(examples: Iterable[Example], path: Path) -> str:
    """Write accepted rows (a report's ``examples``, or a share of them) as ``label<TAB>text``
    (training.train's format); returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_tsv(path, examples)


def write_labelled_tsv(rows: Iterable[TrainingExample], path: Path) -> str:
    """Write accepted rows of three-way data as ``label<TAB>emotion<TAB>scope<TAB>text``: the label
    (negative / neutral / positive) and the emotion (English class) in words, empty where the row has
    none; scope "two-way" for a row that trains the negative-vs-positive split alone. Returns the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(LABELLED_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    "" if r.polarity is None else LABELS[r.polarity],
                    "" if r.emotion is None else EMOTIONS[r.emotion],
                    "two-way" if r.two_way else "",
                    r.text,
                ]
            )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_labelled_tsv(path: Path) -> list[TrainingExample]:
    """The rows `write_labelled_tsv` wrote (their source is the file and row)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        if tuple(next(reader, ())) != LABELLED_COLUMNS:
            raise InputError(
                Location(str(path), 1), f"not a three-way training file (header {'/'.join(LABELLED_COLUMNS)})"
            )
        return [
            TrainingExample(
                text,
                LABELS.index(label) if label else None,
                EMOTIONS.index(emotion) if emotion else None,
                scope == "two-way",
                f"{path}:{number}",
            )
            for number, (label, emotion, scope, text) in enumerate(reader, start=2)
        ]


__all__ = ["LABELLED_COLUMNS", "read_labelled_tsv", "write_clean_tsv", "write_labelled_tsv"]
