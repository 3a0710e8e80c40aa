"""Stored results back into pipeline values: the inverse of nlp.schema.Result.to_dict.

The database keeps results as their JSON form (the SPEC's results format, redacted); heatmap, trend,
themes and alerts are pure functions of Result values, so rows are turned back into them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nlp.schema import Cue, Result, Sentiment, TurnResult


def _sentiment(data: Mapping[str, Any]) -> Sentiment:
    return Sentiment(
        label=data["label"],
        score=float(data["score"]),
        negative_probability=float(data["negative_probability"]),
        model_version=str(data["model_version"]),
    )


def result_from_dict(data: Mapping[str, Any]) -> Result:
    """A Result from its to_dict form (as stored in items.result)."""
    turns = tuple(
        TurnResult(t["speaker"], t["text"], _sentiment(t["sentiment"]), t.get("start"), t.get("end"))
        for t in data.get("turns", [])
    )
    themes = data.get("themes", [])
    return Result(
        id=data["id"],
        kind=data["kind"],
        text=data["text"],
        sentiment=_sentiment(data["sentiment"]),
        turns=turns,
        emotion=data.get("emotion"),
        explanation=tuple(Cue(c["word"], float(c["weight"])) for c in data.get("explanation", [])),
        keywords=tuple(data.get("keywords", [])),
        themes=tuple(t["id"] for t in themes),
        theme_weights={t["id"]: t["weight"] for t in themes if t.get("weight") is not None},
        redactions=dict(data.get("redactions", {})),
        meta=dict(data.get("meta", {})),
    )
