"""Small typed values that flow through the pipeline: items in, results out (and results back from their
JSON form, as stored by the service or spooled by the CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Speaker = Literal["agent", "customer"]
Kind = Literal["transcript", "survey"]
Label = Literal["negative", "neutral", "positive"]


@dataclass(frozen=True)
class Turn:
    """One turn of a call. `text` is the raw text as read; redaction happens in the pipeline."""

    speaker: Speaker
    text: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Item:
    """One unit of analysis: a call (with turns) or a survey answer.

    `meta` carries segment metadata under canonical keys (tier, channel, region, product, date,
    nps, csat, ...). `source` is "file:line" for error messages and audit.
    """

    id: str
    kind: Kind
    text: str
    turns: tuple[Turn, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Sentiment:
    """A sentiment judgement; `score` = 1 - 2 * negative_probability, in [-1, 1]."""

    label: Label
    score: float
    negative_probability: float
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "negative_probability": round(self.negative_probability, 4),
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class Cue:
    """A word that moved the lexicon score, with its signed weight after negation and degree."""

    word: str
    weight: float


@dataclass(frozen=True)
class Explanation:
    """Why a text reads the way it does: the cue words and, for negative text, an emotion class."""

    cues: tuple[Cue, ...] = ()
    emotion: str | None = None


@dataclass(frozen=True)
class TurnResult:
    speaker: Speaker
    text: str
    sentiment: Sentiment
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "speaker": self.speaker,
            "text": self.text,
            "sentiment": self.sentiment.to_dict(),
        }
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        return out


@dataclass(frozen=True)
class Result:
    """The per-item output (one line of results.jsonl, see SPEC.md)."""

    id: str
    kind: Kind
    text: str
    sentiment: Sentiment
    turns: tuple[TurnResult, ...] = ()
    emotion: str | None = None
    explanation: tuple[Cue, ...] = ()
    keywords: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    # Each theme's share of the item's themed keyword weight (themes are ordered heaviest first).
    theme_weights: Mapping[str, float] = field(default_factory=dict)
    redactions: Mapping[str, int] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def top_theme(self) -> str | None:
        """The item's heaviest theme (themes are ordered by weight); None when it has none."""
        return self.themes[0] if self.themes else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "sentiment": self.sentiment.to_dict(),
        }
        if self.kind == "transcript":
            out["turns"] = [t.to_dict() for t in self.turns]
        out["emotion"] = self.emotion
        out["explanation"] = [{"word": c.word, "weight": round(c.weight, 3)} for c in self.explanation]
        out["keywords"] = list(self.keywords)
        out["themes"] = [{"id": t, "weight": self.theme_weights.get(t)} for t in self.themes]
        out["redactions"] = dict(self.redactions)
        out["meta"] = dict(self.meta)
        return out


class _Spoken(Protocol):
    @property
    def speaker(self) -> Speaker: ...
    @property
    def text(self) -> str: ...


def customer_text(turns: Iterable[_Spoken]) -> str:
    """What the customer said in a call: the customer turns' texts, one per line (agent turns are
    scripted politeness and must not colour the call)."""
    return "\n".join(t.text for t in turns if t.speaker == "customer")


def _sentiment_from_dict(data: Mapping[str, Any]) -> Sentiment:
    return Sentiment(
        label=data["label"],
        score=float(data["score"]),
        negative_probability=float(data["negative_probability"]),
        model_version=str(data["model_version"]),
    )


def result_from_dict(data: Mapping[str, Any]) -> Result:
    """A Result from its ``to_dict`` form (a results.jsonl line, a stored item)."""
    turns = tuple(
        TurnResult(t["speaker"], t["text"], _sentiment_from_dict(t["sentiment"]), t.get("start"), t.get("end"))
        for t in data.get("turns", [])
    )
    themes = data.get("themes", [])
    return Result(
        id=data["id"],
        kind=data["kind"],
        text=data["text"],
        sentiment=_sentiment_from_dict(data["sentiment"]),
        turns=turns,
        emotion=data.get("emotion"),
        explanation=tuple(Cue(c["word"], float(c["weight"])) for c in data.get("explanation", [])),
        keywords=tuple(data.get("keywords", [])),
        themes=tuple(t["id"] for t in themes),
        theme_weights={t["id"]: t["weight"] for t in themes if t.get("weight") is not None},
        redactions=dict(data.get("redactions", {})),
        meta=dict(data.get("meta", {})),
    )
