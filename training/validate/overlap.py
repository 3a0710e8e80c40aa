"""The checks across rows: a training text that is also in an evaluation set (a model must not be
judged on what it learnt), a duplicate, a text given conflicting labels. Texts are compared by
``training.pool.match_key``, so a traditional-Chinese or re-spaced copy counts as the same text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from models.evaluate import read_labelled
from nlp.errors import Location
from training.pool import match_key
from training.validate.report import Problem, ValidationConfig
from training.validate.rows import Row


def evaluation_keys(eval_sets: Mapping[str, Path]) -> dict[str, tuple[str, Location]]:
    """match_key → (set name, where) of every text of the evaluation sets (the first one wins)."""
    keys: dict[str, tuple[str, Location]] = {}
    for name, path in eval_sets.items():
        labelled = read_labelled(path)
        for text, row in zip(labelled.texts, labelled.rows, strict=True):
            keys.setdefault(match_key(text), (name, Location(str(path), row)))
    return keys


def deduplicated(
    rows: Iterable[tuple[str, Row]],
    eval_keys: Mapping[str, tuple[str, Location]],
    config: ValidationConfig,
    problems: list[Problem],
) -> list[tuple[str, Row]]:
    first: dict[str, tuple[Location, Row]] = {}
    kept: list[tuple[str, Row]] = []
    for file, row in rows:
        where = Location(file, row.row, row.text_field)
        key = match_key(row.text)
        if key in eval_keys:
            name, at = eval_keys[key]
            problems.append(
                Problem(
                    where,
                    "eval_overlap",
                    f"text is in evaluation set {name!r} ({at}); remove it (a model is never judged on what it learnt)",
                )
            )
            continue
        if key in first:
            seen, earlier = first[key]
            if (earlier.polarity, earlier.emotion) != (row.polarity, row.emotion):
                problems.append(
                    Problem(
                        where,
                        "conflicting_label",
                        f"labelled {row.shown()} here but {earlier.shown()} at {seen}; keep one label for this text",
                    )
                )
            else:
                drop = config.duplicates == "drop"
                problems.append(
                    Problem(
                        where,
                        "duplicate",
                        f"duplicate of {seen}" + ("; dropped" if drop else "; remove it or pass --drop-duplicates"),
                        "warning" if drop else "error",
                    )
                )
            continue
        first[key] = (Location(file, row.row), row)
        kept.append((file, row))
    return kept


__all__ = ["deduplicated", "evaluation_keys"]
