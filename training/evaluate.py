"""Evaluation of a scorer on a labelled file lives in ``models.evaluate`` (the registry's gate needs
it, and models sits below training); this module keeps the training-side import path."""

from __future__ import annotations

from models.evaluate import (
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    WORST_EXAMPLES,
    EvalReport,
    Example,
    LabelledData,
    ProbabilityScorer,
    detect_delimiter,
    evaluate,
    find_column,
    negative_probabilities,
    read_labelled,
    report_from_probabilities,
    write_report,
)

__all__ = [
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "WORST_EXAMPLES",
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
