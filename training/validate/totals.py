"""The checks of the accepted data as a whole: too few rows, a single label or an unbalanced share
(binary data), a class alone on a head or a rare polarity class (three-way data)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from nlp.errors import Location
from nlp.schema import EMOTIONS, LABELS
from training.pool import Example
from training.validate.report import Problem, TrainingExample, ValidationConfig


def binary_totals(examples: Sequence[Example], files: Sequence[Path], config: ValidationConfig) -> list[Problem]:
    where = Location(", ".join(str(f) for f in files))
    counts = Counter(e.label for e in examples)
    problems = []
    if len(examples) < config.min_rows:
        problems.append(
            Problem(where, "too_few_rows", f"{len(examples)} usable texts; at least {config.min_rows} are needed")
        )
    if examples and len(counts) < 2:
        only = "positive" if 1 in counts else "negative"
        problems.append(Problem(where, "one_label", f"every text is {only}; both labels are needed"))
    elif examples:
        share = min(counts.values()) / len(examples)
        if share < config.min_label_share:
            problems.append(
                Problem(
                    where,
                    "label_balance",
                    f"unbalanced labels: {counts[1]} positive / {counts[0]} negative "
                    f"({share:.0%} for the rarer label, below {config.min_label_share:.0%})",
                    "warning",
                )
            )
    return problems


def three_way_totals(rows: Sequence[TrainingExample], files: Sequence[Path], config: ValidationConfig) -> list[Problem]:
    """Too few rows (an error); a head whose labels are all one class, a rare polarity class (warnings:
    the other rows keep the starting model's reading of that head, see training.multitask_user)."""
    where = Location(", ".join(str(f) for f in files))
    problems = []
    if len(rows) < config.min_rows:
        problems.append(
            Problem(where, "too_few_rows", f"{len(rows)} usable texts; at least {config.min_rows} are needed")
        )
    for head, names, values in (
        ("polarity", LABELS, [r.polarity for r in rows if r.polarity is not None]),
        ("emotion", EMOTIONS, [r.emotion for r in rows if r.emotion is not None]),
    ):
        counts = Counter(values)
        if len(counts) == 1:
            (only,) = counts
            problems.append(
                Problem(
                    where,
                    "one_class",
                    f"every {head} label is {names[only]}: the model learns that class alone from your data",
                    "warning",
                )
            )
        elif head == "polarity" and counts:
            rarest = min(counts, key=lambda k: counts[k])
            share = counts[rarest] / len(values)
            if share < config.min_label_share:
                listed = " / ".join(f"{counts[i]} {name}" for i, name in enumerate(LABELS) if counts[i])
                problems.append(
                    Problem(
                        where,
                        "label_balance",
                        f"unbalanced labels: {listed} ({share:.0%} for {LABELS[rarest]}, "
                        f"below {config.min_label_share:.0%})",
                        "warning",
                    )
                )
    return problems


__all__ = ["binary_totals", "three_way_totals"]
