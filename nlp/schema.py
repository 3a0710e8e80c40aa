"""Small typed values that flow through the pipeline: items in, results out (and results back from their
JSON form, as stored by the service or spooled by the CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Speaker = Literal["agent", "customer"]
Kind = Literal["transcript", "survey"]
Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")
EmotionLabel = Literal["angry", "sad", "fear", "surprise", "happy", "neutral"]
# The six emotion classes: English in the schema, Chinese in everything a person reads.
EMOTIONS: tuple[EmotionLabel, ...] = ("angry", "sad", "fear", "surprise", "happy", "neutral")
EMOTION_NAMES: Mapping[str, str] = {
    "angry": "愤怒",
    "sad": "失望",
    "fear": "焦虑",
    "surprise": "惊讶",
    "happy": "满意",
    "neutral": "中性",
}


# The segment dimensions of an item's meta as a person reads them (heatmap axes, alert reasons, the
# dashboard's choices).
DIMENSION_NAMES: Mapping[str, str] = {
    "tier": "客户等级",
    "channel": "渠道",
    "region": "区域",
    "product": "产品线",
    "week": "周",
    "date": "日期",
    "nps": "NPS",
    "csat": "满意度",
}


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
class Emotion:
    """An emotion class with, from a model, the probability of each of the six (empty from the lexicon)."""

    label: EmotionLabel
    probabilities: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The Chinese name a person reads (愤怒, 失望, …)."""
        return EMOTION_NAMES[self.label]

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.probabilities.items()}


@dataclass(frozen=True)
class Sentiment:
    """A sentiment judgement: `score` = P(positive) - P(negative), in [-1, 1] (1 - 2 × the negative
    probability for a two-class reading). `probabilities` holds P(negative), P(neutral), P(positive)
    when a three-way model produced the label; `emotion` is the model's emotion reading, if it has one."""

    label: Label
    score: float
    negative_probability: float
    model_version: str
    probabilities: Mapping[str, float] = field(default_factory=dict)
    emotion: Emotion | None = None

    @property
    def opinion_negative_probability(self) -> float:
        """P(negative | the text is an opinion): the binary reading of a three-way judgement (what
        negative-vs-positive figures compare), the negative probability of a two-class one."""
        if not self.probabilities:
            return self.negative_probability
        negative, positive = self.probabilities["negative"], self.probabilities["positive"]
        return negative / (negative + positive) if negative + positive > 0 else 0.5

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "score": round(self.score, 4),
            "negative_probability": round(self.negative_probability, 4),
            "model_version": self.model_version,
        }
        if self.probabilities:
            out["probabilities"] = {k: round(v, 4) for k, v in self.probabilities.items()}
        return out


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


def _emotion_fields(emotion: Emotion | None) -> dict[str, Any]:
    if emotion is None:
        return {"emotion": None}
    out: dict[str, Any] = {"emotion": emotion.label, "emotion_name": emotion.name}
    if emotion.probabilities:
        out["emotion_probabilities"] = emotion.rounded()
    return out


@dataclass(frozen=True)
class TurnResult:
    speaker: Speaker
    text: str
    sentiment: Sentiment
    start: float | None = None
    end: float | None = None
    emotion: Emotion | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "speaker": self.speaker,
            "text": self.text,
            "sentiment": self.sentiment.to_dict(),
            **_emotion_fields(self.emotion),
        }
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        return out


# Why a call is abnormal (标记异常通话), in the words the follow-up team reads.
ABNORMAL_REASONS: Mapping[str, str] = {
    "ends_angry": "客户以愤怒结束通话",
    "escalated": "客户情绪升级",
    "negative_after_reply": "客服答复后客户强烈不满",
}
# One character (or word) per emotion, as 回访 teams write a trajectory: 情绪由怒转平.
_TRAJECTORY_NAMES: Mapping[str, str] = {
    "angry": "怒",
    "sad": "失望",
    "fear": "焦虑",
    "surprise": "惊",
    "happy": "喜",
    "neutral": "平",
}


@dataclass(frozen=True)
class CallReading:
    """How the customer started and ended a call, and whether it is abnormal, with the reasons (codes of
    ABNORMAL_REASONS). `start`/`end` are None for a call without customer turns."""

    start: EmotionLabel | None
    end: EmotionLabel | None
    abnormal: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def trajectory(self) -> str:
        """情绪由怒转平, 情绪始终平稳, …; empty when the customer said nothing."""
        if self.start is None or self.end is None:
            return ""
        if self.start == self.end:
            return "情绪始终平稳" if self.start == "neutral" else f"情绪始终{EMOTION_NAMES[self.start]}"
        return f"情绪由{_TRAJECTORY_NAMES[self.start]}转{_TRAJECTORY_NAMES[self.end]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "trajectory": self.trajectory,
            "abnormal": self.abnormal,
            "reasons": [{"code": r, "text": ABNORMAL_REASONS[r]} for r in self.reasons],
        }


@dataclass(frozen=True)
class Aspect:
    """One opinion unit of an answer or a customer turn (a clause, see nlp.aspects) and what it is about.

    `text` is the redacted span, at `start`:`end` of the result's text (of turn `turn` for a call);
    `term` is the aspect term it rests on (物流, 分量, 服务员; "" when the unit names none), `opinion`
    the opinion words (慢, 少, 态度差; "" when none); `sentiment` and `emotion` are the unit's own
    reading; `theme` is a taxonomy theme, a discovered demand, or None (set by the theme step).
    """

    text: str
    start: int
    end: int
    term: str
    opinion: str
    sentiment: Sentiment
    emotion: Emotion | None = None
    theme: str | None = None
    turn: int | None = None

    @property
    def label(self) -> Label:
        return self.sentiment.label

    @property
    def pair(self) -> str:
        """The demand as a manager names it: 物流·慢, 分量·少 (the term or the opinion alone when one is missing)."""
        return "·".join(part for part in (self.term, self.opinion) if part)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "theme": self.theme,
            "term": self.term,
            "opinion": self.opinion,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "label": self.sentiment.label,
            "negative_probability": round(self.sentiment.negative_probability, 4),
            **_emotion_fields(self.emotion),
        }
        if self.sentiment.probabilities:
            out["probabilities"] = {k: round(v, 4) for k, v in self.sentiment.probabilities.items()}
        if self.turn is not None:
            out["turn"] = self.turn
        return out


@dataclass(frozen=True)
class Result:
    """The per-item output (one line of results.jsonl, see SPEC.md)."""

    id: str
    kind: Kind
    text: str
    sentiment: Sentiment
    turns: tuple[TurnResult, ...] = ()
    emotion: Emotion | None = None
    explanation: tuple[Cue, ...] = ()
    keywords: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    # Each theme's share of the item's themed keyword weight (themes are ordered heaviest first).
    theme_weights: Mapping[str, float] = field(default_factory=dict)
    redactions: Mapping[str, int] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    call: CallReading | None = None  # transcripts only
    # The opinion units (clauses) with their aspect, own polarity and emotion; themes are theirs.
    aspects: tuple[Aspect, ...] = ()
    # The raw personal identifiers the business keeps (nlp.personal.protected_fields: a phone to call
    # back), for the service to store encrypted. Never serialised (to_dict leaves it out), never shown.
    protected: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

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
            if self.call is not None:
                out["call"] = self.call.to_dict()
        out.update(_emotion_fields(self.emotion))
        out["explanation"] = [{"word": c.word, "weight": round(c.weight, 3)} for c in self.explanation]
        out["keywords"] = list(self.keywords)
        out["themes"] = [{"id": t, "weight": self.theme_weights.get(t)} for t in self.themes]
        out["aspects"] = [a.to_dict() for a in self.aspects]
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
        probabilities={k: float(v) for k, v in data.get("probabilities", {}).items()},
    )


def _emotion_from_dict(data: Mapping[str, Any]) -> Emotion | None:
    label = data.get("emotion")
    if label is None:
        return None
    if label not in EMOTION_NAMES:  # stored before emotions had English names: 愤怒, 焦虑, …
        label = LEGACY_EMOTIONS.get(label)
        if label is None:
            return None
    probabilities = data.get("emotion_probabilities") or {}
    return Emotion(label, {k: float(v) for k, v in probabilities.items()})


# The lexicon's five negative emotions (and results stored with them) as the six classes.
LEGACY_EMOTIONS: Mapping[str, EmotionLabel] = {
    "愤怒": "angry",
    "厌恶": "angry",
    "焦虑": "fear",
    "失望": "sad",
    "悲伤": "sad",
    "惊讶": "surprise",
    "满意": "happy",
    "中性": "neutral",
}


def _call_from_dict(data: Mapping[str, Any] | None) -> CallReading | None:
    if not data:
        return None
    reasons = tuple(r["code"] if isinstance(r, Mapping) else str(r) for r in data.get("reasons", []))
    return CallReading(data.get("start"), data.get("end"), bool(data.get("abnormal")), reasons)


def _aspect_from_dict(data: Mapping[str, Any], version: str) -> Aspect:
    probabilities = {k: float(v) for k, v in data.get("probabilities", {}).items()}
    negative = float(data["negative_probability"])
    score = probabilities["positive"] - probabilities["negative"] if probabilities else 1.0 - 2.0 * negative
    return Aspect(
        text=str(data["text"]),
        start=int(data.get("start", 0)),
        end=int(data.get("end", 0)),
        term=str(data.get("term", "")),
        opinion=str(data.get("opinion", "")),
        sentiment=Sentiment(data["label"], score, negative, version, probabilities),
        emotion=_emotion_from_dict(data),
        theme=data.get("theme"),
        turn=data.get("turn"),
    )


def result_from_dict(data: Mapping[str, Any]) -> Result:
    """A Result from its ``to_dict`` form (a results.jsonl line, a stored item)."""
    turns = tuple(
        TurnResult(
            t["speaker"],
            t["text"],
            _sentiment_from_dict(t["sentiment"]),
            t.get("start"),
            t.get("end"),
            _emotion_from_dict(t),
        )
        for t in data.get("turns", [])
    )
    themes = data.get("themes", [])
    return Result(
        id=data["id"],
        kind=data["kind"],
        text=data["text"],
        sentiment=_sentiment_from_dict(data["sentiment"]),
        turns=turns,
        emotion=_emotion_from_dict(data),
        explanation=tuple(Cue(c["word"], float(c["weight"])) for c in data.get("explanation", [])),
        keywords=tuple(data.get("keywords", [])),
        themes=tuple(t["id"] for t in themes),
        theme_weights={t["id"]: t["weight"] for t in themes if t.get("weight") is not None},
        redactions=dict(data.get("redactions", {})),
        meta=dict(data.get("meta", {})),
        call=_call_from_dict(data.get("call")),
        aspects=tuple(_aspect_from_dict(a, str(data["sentiment"]["model_version"])) for a in data.get("aspects", [])),
    )
