"""Validate training files for ``kesheng train`` before any training starts.

Files are CSV/TSV (a text column with a label column, an emotion column, or both, found by the same
header names and the same delimiter and encoding detection as ``models.evaluate.read_labelled``) or
JSONL (one object per line with such keys). Labels are read by ``read_labelled``'s rule, per file:

- binary: 0 / 1 (1 = positive);
- three-way: negative / neutral / positive, 负面 / 中性 / 正面, or the numbers 0 / 1 / 2 in a file whose
  label column holds a 2 anywhere (0 negative, 1 neutral, 2 positive; a warning names the row with
  the first 2, since a mistyped 2 in a 0/1 file would turn its positives neutral);
- emotions (optional column ``emotion`` / ``情绪``): angry / sad / fear / surprise / happy / neutral or
  愤怒 / 失望 / 焦虑 / 惊讶 / 满意 / 中性.

A cell may be left empty where its row has the other one (a text labelled with an emotion only, or a
polarity only), as ``kesheng labels export`` writes them. A file whose polarity labels are only
negative and positive (0/1 numbers, or words without a neutral) says which way a text leans, not
whether it has an opinion: its rows train the negative-vs-positive split alone (``two_way``). The
data is "binary" when no row is neutral and none has an emotion (what the binary path trains),
else "three-way" (training.multitask_user).

Unlike ``read_labelled``, which stops at the first bad row, validation reads every row of every file
and reports every problem with its file, row and field:

- errors (nothing is trained): unreadable file, missing text or label column, a row with the wrong
  number of fields, a label or emotion not listed above (or words and numbers mixed in one file), a
  row with neither, an empty text, a text given conflicting labels, a text that is also in an
  evaluation set (a model must not be judged on what it learnt), a duplicate text (unless the
  config says "drop"), too few rows, a single label (binary data);
- warnings: a duplicate dropped by configuration, an unbalanced label share, numbers read as
  three-way, a class alone on a head (three-way data).

Texts are cleaned as ``training.pool`` cleans its sources (BOMs and zero-width characters removed,
whitespace folded); duplicates, conflicts and overlap are found by ``training.pool.match_key``, so a
traditional-Chinese or re-spaced copy of an evaluation text counts as the same text. The accepted
rows are written as one ``label<TAB>text`` TSV (binary data, the format training.train reads) or a
``label<TAB>emotion<TAB>scope<TAB>text`` TSV (three-way data, ``write_labelled_tsv``).

``validate`` reads like those steps: ``cells`` reads a file's rows, ``rows`` checks each row and reads
its labels, ``overlap`` compares the rows with each other and with the evaluation sets, ``totals``
checks the data as a whole, ``report`` holds what is found and ``tsv`` writes what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from training.pool import Example
from training.validate.cells import JSONL_SUFFIXES, TABLE_SUFFIXES
from training.validate.overlap import deduplicated, evaluation_keys
from training.validate.report import (
    LISTED_PROBLEMS,
    DataKind,
    FileSummary,
    Problem,
    TrainingDataError,
    TrainingExample,
    ValidationConfig,
    ValidationReport,
    label_counts,
)
from training.validate.rows import BINARY_LABELS, NEUTRAL, POSITIVE, Row, read_training_file
from training.validate.totals import binary_totals, three_way_totals
from training.validate.tsv import LABELLED_COLUMNS, read_labelled_tsv, write_clean_tsv, write_labelled_tsv


def data_kind(files: Sequence[Path]) -> DataKind:
    """ "three-way" when any readable row of `files` is neutral or has an emotion, else "binary"
    (problems are left to ``validate``)."""
    rows = [row for path in files for row in read_training_file(path, [])[1]]
    return "three-way" if any(r.polarity == NEUTRAL or r.emotion is not None for r in rows) else "binary"


def validate(
    files: Sequence[Path], eval_sets: Mapping[str, Path], config: ValidationConfig | None = None
) -> ValidationReport:
    """Check training `files` against each other and against the evaluation sets; see the module doc."""
    config = config or ValidationConfig()
    problems: list[Problem] = []
    summaries: list[FileSummary] = []
    read: list[tuple[str, Row]] = []
    for path in files:
        summary, rows = read_training_file(path, problems)
        if summary is not None:
            summaries.append(summary)
        read.extend((str(path), row) for row in rows)
    kept = deduplicated(read, evaluation_keys(eval_sets), config, problems)
    accepted = tuple(TrainingExample(r.text, r.polarity, r.emotion, r.two_way, f"{file}:{r.row}") for file, r in kept)
    if any(r.polarity == NEUTRAL or r.emotion is not None for r in accepted):
        problems.extend(three_way_totals(accepted, files, config))
        return ValidationReport(tuple(summaries), tuple(problems), (), accepted, "three-way")
    examples = [Example(int(r.polarity == POSITIVE), r.text, f"{file}:{r.row}") for file, r in kept]
    problems.extend(binary_totals(examples, files, config))
    return ValidationReport(tuple(summaries), tuple(problems), tuple(examples), accepted, "binary")


__all__ = [
    "BINARY_LABELS",
    "JSONL_SUFFIXES",
    "LABELLED_COLUMNS",
    "LISTED_PROBLEMS",
    "NEUTRAL",
    "POSITIVE",
    "TABLE_SUFFIXES",
    "DataKind",
    "FileSummary",
    "Problem",
    "TrainingDataError",
    "TrainingExample",
    "ValidationConfig",
    "ValidationReport",
    "data_kind",
    "evaluation_keys",
    "label_counts",
    "read_labelled_tsv",
    "read_training_file",
    "validate",
    "write_clean_tsv",
    "write_labelled_tsv",
]
