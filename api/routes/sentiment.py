"""POST /v1/sentiment: real-time scoring of texts or of one call, micro-batched with other requests."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceKey, ServicesDep
from api.errors import ApiError
from api.routes import problems
from api.schemas import CueOut, ScoreOut, SentimentOut, TextsIn, TranscriptIn, TurnScoreOut
from nlp.readers.columns import speaker_of
from nlp.schema import Item, Result, Turn, customer_text

router = APIRouter(prefix="/v1", tags=["sentiment"])


class InvalidTurnError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


def _score(result: Result) -> ScoreOut:
    return ScoreOut(
        label=result.sentiment.label,
        score=round(result.sentiment.score, 4),
        negative_probability=round(result.sentiment.negative_probability, 4),
        emotion=result.emotion,
        explanation=[CueOut(word=c.word, weight=round(c.weight, 3)) for c in result.explanation],
    )


def _transcript_item(body: TranscriptIn) -> Item:
    turns = []
    for index, turn in enumerate(body.turns):
        speaker = speaker_of(turn.speaker)
        if speaker is None:
            raise InvalidTurnError(
                f"turns.{index}.speaker: unknown speaker {turn.speaker!r}; use agent or customer (客服, 客户...)"
            )
        turns.append(Turn(speaker=speaker, text=turn.text))
    return Item(id=body.id, kind="transcript", text=customer_text(turns), turns=tuple(turns), source="request")


@router.post("/sentiment", response_model=SentimentOut, responses=problems(401, 403, 422, 503))
async def score(body: TextsIn | TranscriptIn, services: ServicesDep, _key: ServiceKey) -> SentimentOut:
    """Score 1–64 texts, or one call given as turns (per turn, and the call from its customer turns).

    Concurrent requests are scored together in one model call (micro-batching)."""
    if isinstance(body, TextsIn):
        items = [Item(id=str(i), kind="survey", text=text, source="request") for i, text in enumerate(body.texts)]
        results = await services.batcher.submit(items)
        services.metrics.texts_scored.inc(len(items))
        version = results[0].sentiment.model_version
        return SentimentOut(model_version=version, results=[_score(r) for r in results])
    (result,) = await services.batcher.submit([_transcript_item(body)])
    services.metrics.texts_scored.inc(len(body.turns))
    call = _score(result)
    turns = [
        TurnScoreOut(
            speaker=t.speaker,
            label=t.sentiment.label,
            score=round(t.sentiment.score, 4),
            negative_probability=round(t.sentiment.negative_probability, 4),
        )
        for t in result.turns
    ]
    return SentimentOut(model_version=result.sentiment.model_version, results=[call], call=call, turns=turns)
