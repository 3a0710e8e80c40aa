"""Real-time sentiment: texts or one call in, a polarity and an emotion per text (and per turn) out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, WithJsonSchema

from api.schemas.base import MAX_TEXT_CHARS, MAX_TEXTS, MAX_TURNS, Label, StrictIn, Text
from nlp.readers.columns import SPEAKER_SYNONYMS
from nlp.schema import ABNORMAL_REASONS, EMOTION_NAMES, EmotionLabel

# A day: no call is longer, and a bound keeps a turn time a plain number.
MAX_CALL_SECONDS = 86_400


class TextsIn(StrictIn):
    """Texts to score, 1 to 64 of them, each 1 to 2,000 characters."""

    texts: list[Text] = Field(min_length=1, max_length=MAX_TEXTS, examples=[["快递太慢了，客服也不回消息"]])


# Every speaker label the service understands, as the schema lists them: the transcript readers'
# synonyms (nlp.readers.columns), so that what the schema accepts and what the server reads agree.
SPEAKERS: tuple[str, ...] = tuple(
    dict.fromkeys(["agent", "customer", "Agent", "Customer", *(w for ws in SPEAKER_SYNONYMS.values() for w in ws)])
)


def _known_speaker(value: str) -> str:
    if value not in SPEAKERS:
        raise ValueError(f"unknown speaker {value!r}; use agent or customer (or 客服, 坐席, 客户, 顾客, 用户 …)")
    return value


SpeakerIn = Annotated[
    str,
    AfterValidator(_known_speaker),
    WithJsonSchema({"type": "string", "enum": list(SPEAKERS)}),
    Field(description="agent or customer; 客服/坐席/顾客/客户/用户 and the other listed labels are understood"),
]
# Seconds from the start of the call, as in the transcript JSONL format; carried with the turn.
Seconds = Annotated[float, Field(ge=0, le=MAX_CALL_SECONDS, allow_inf_nan=False)]


class TurnIn(StrictIn):
    speaker: SpeakerIn = Field(examples=["客户"])
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
    start: Seconds | None = Field(default=None, description="when the turn starts, in seconds into the call")
    end: Seconds | None = Field(default=None, description="when it ends, in seconds into the call")


class TranscriptIn(StrictIn):
    """One call: its turns (1 to 200); the call's score comes from the customer's turns only."""

    id: Annotated[str, StringConstraints(max_length=200)] = "call"
    turns: list[TurnIn] = Field(min_length=1, max_length=MAX_TURNS)


class CueOut(BaseModel):
    word: str
    weight: float


# The schema speaks English; the descriptions give the Chinese names a person reads.
_LABEL_DOC = "negative 负面, neutral 中性 or positive 正面"
_PROBABILITIES_DOC = (
    "P(negative), P(neutral), P(positive) when a three-way model gave the label; null from a two-class "
    "scorer (the lexicon, a binary model), which gives negative_probability only"
)
_SCORE_DOC = "P(positive) - P(negative) (1 - 2 × negative_probability for a two-class scorer): -1 … +1"
_EMOTION_DOC = (
    "The emotion class: "
    + ", ".join(f"{label} {name}" for label, name in EMOTION_NAMES.items())
    + ". The model's when it reads emotions, else the lexicon's for negative text; null when there is none"
)
_EMOTION_NAME_DOC = f"The emotion's Chinese name ({', '.join(EMOTION_NAMES.values())}); null without an emotion"


class PolarityProbabilitiesOut(BaseModel):
    """P(negative), P(neutral), P(positive) of a three-way model; they sum to 1."""

    negative: float
    neutral: float
    positive: float


class EmotionProbabilitiesOut(BaseModel):
    """The probability of each of the six emotions, from a model that reads them; they sum to 1."""

    angry: float = Field(description="愤怒")
    sad: float = Field(description="失望")
    fear: float = Field(description="焦虑")
    surprise: float = Field(description="惊讶")
    happy: float = Field(description="满意")
    neutral: float = Field(description="中性")


# Fields shared by the real-time and the batch results (each null when absent).
ProbabilitiesOut = Annotated[PolarityProbabilitiesOut | None, Field(description=_PROBABILITIES_DOC)]
EmotionOut = Annotated[EmotionLabel | None, Field(description=_EMOTION_DOC)]
EmotionNameOut = Annotated[str | None, Field(description=_EMOTION_NAME_DOC)]
EmotionProbabilitiesField = Annotated[
    EmotionProbabilitiesOut | None,
    Field(description="All six emotion probabilities when a model gave them; null from the lexicon"),
]


class AspectOut(BaseModel):
    """One opinion unit of the text (a clause) with what it is about and its own reading."""

    theme: str | None = Field(description="the demand theme id (taxonomy or discovered D01 …); null for none")
    term: str = Field(description="the aspect term it rests on (物流, 分量); empty when the unit names none")
    opinion: str = Field(description="the opinion words (慢, 少, 态度差); empty when the unit only names")
    text: str = Field(description="the unit, redacted")
    start: int = Field(description="offset of the unit in the (redacted) text, or in its turn")
    end: int
    label: Label = Field(description=_LABEL_DOC)
    negative_probability: float
    probabilities: ProbabilitiesOut = None
    emotion: EmotionOut = None
    emotion_name: EmotionNameOut = None
    emotion_probabilities: EmotionProbabilitiesField = None
    turn: int | None = Field(default=None, description="calls: the index of the customer turn it is in")


AspectsField = Annotated[
    list[AspectOut],
    Field(
        default_factory=list,
        description="The opinion units, each with its theme, term, opinion, own polarity and emotion. In "
        "real time a theme is found by the taxonomy's seed words only; a batch also finds themes by "
        "meaning and discovered demands",
    ),
]


class ScoreOut(BaseModel):
    label: Label = Field(description=_LABEL_DOC)
    probabilities: ProbabilitiesOut = None
    negative_probability: float
    score: float = Field(description=_SCORE_DOC)
    model_version: str
    emotion: EmotionOut = None
    emotion_name: EmotionNameOut = None
    emotion_probabilities: EmotionProbabilitiesField = None
    explanation: list[CueOut] = Field(description="the words that drove the result")
    aspects: AspectsField


class TurnScoreOut(BaseModel):
    speaker: Literal["agent", "customer"]
    label: Label = Field(description=_LABEL_DOC)
    probabilities: ProbabilitiesOut = None
    score: float = Field(description=_SCORE_DOC)
    negative_probability: float
    emotion: EmotionOut = None
    emotion_name: EmotionNameOut = None
    emotion_probabilities: EmotionProbabilitiesField = None


class ReasonOut(BaseModel):
    code: str = Field(description=", ".join(f"{code} ({text})" for code, text in ABNORMAL_REASONS.items()))
    text: str = Field(description="The reason in Chinese, as the follow-up team reads it")


class CallReadingOut(BaseModel):
    """How the customer started and ended the call, and whether the call is abnormal (标记异常通话)."""

    start: EmotionLabel | None = Field(description="The customer's first emotion; null without customer turns")
    end: EmotionLabel | None = Field(description="The customer's last emotion")
    trajectory: str = Field(description="The trajectory in Chinese, e.g. 情绪由怒转平; empty without customer turns")
    abnormal: bool
    reasons: list[ReasonOut] = Field(description="Why the call is abnormal; empty for a normal call")


class SentimentOut(BaseModel):
    """For texts: one result per text. For a transcript: `results` holds the call's result (also in
    `call`), `turns` one score per turn and `call_reading` the call's emotion trajectory."""

    model_version: str
    results: list[ScoreOut]
    call: ScoreOut | None = None
    turns: list[TurnScoreOut] | None = None
    call_reading: CallReadingOut | None = Field(
        default=None, description="For a transcript: the customer's emotion trajectory and the abnormal flag"
    )
