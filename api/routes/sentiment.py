"""POST /v1/sentiment: real-time scoring of texts or of one call, micro-batched with other requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import RealTimeKey, ServicesDep
from api.errors import PROBLEM_JSON, ApiError
from api.routes import problems
from api.schemas import ScoreOut, SentimentOut, TextsIn, TranscriptIn, TurnScoreOut
from nlp.readers.columns import speaker_of
from nlp.schema import Item, Turn, customer_text

router = APIRouter(prefix="/v1", tags=["sentiment"])


class InvalidTurnError(ApiError):
    code, status, title = "E622", 422, "Invalid request"


_EMOTION_KEYS = ("emotion", "emotion_name", "emotion_probabilities")


def _emotion(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in _EMOTION_KEYS if k in data}


# Responses are read from the results' dict form (Result.to_dict), the same values, rounding and emotion
# fields as a batch's stored results.
def _score(data: dict[str, Any]) -> ScoreOut:
    return ScoreOut.model_validate(
        {**data["sentiment"], **_emotion(data), "explanation": data["explanation"], "aspects": data["aspects"]}
    )


def _turn(data: dict[str, Any]) -> TurnScoreOut:
    return TurnScoreOut.model_validate({"speaker": data["speaker"], **data["sentiment"], **_emotion(data)})


def _transcript_item(body: TranscriptIn) -> Item:
    turns = []
    for index, turn in enumerate(body.turns):
        speaker = speaker_of(turn.speaker)
        if speaker is None:  # the schema lists only labels speaker_of reads; kept for direct callers
            raise InvalidTurnError(
                f"turns.{index}.speaker: unknown speaker {turn.speaker!r}; use agent or customer (客服, 客户...)"
            )
        turns.append(Turn(speaker=speaker, text=turn.text, start=turn.start, end=turn.end))
    return Item(id=body.id, kind="transcript", text=customer_text(turns), turns=tuple(turns), source="request")


# Documented here, with its header, since only this route answers 429 (api.ratelimit).
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "This key is over its rate limit (KESHENG_RATE_LIMIT_PER_SECOND, per API process)",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        "headers": {
            "Retry-After": {
                "description": "seconds until the key's bucket has a request again",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}


@router.post("/sentiment", response_model=SentimentOut, responses=problems(401, 403, 422, 503) | RATE_LIMITED)
async def score(body: TextsIn | TranscriptIn, services: ServicesDep, _key: RealTimeKey) -> SentimentOut:
    """Score 1–64 texts, or one call given as turns (per turn, and the call from its customer turns).

    Each text gets a label (negative, neutral, positive) with, from a three-way model, its three
    probabilities, and an emotion (angry 愤怒, sad 失望, …) with its Chinese name; a call also gets its
    emotion trajectory and abnormal flag. Concurrent requests are scored together in one model call
    (micro-batching). With a rate limit set, a key over it gets 429 and Retry-After."""
    if isinstance(body, TextsIn):
        items = [Item(id=str(i), kind="survey", text=text, source="request") for i, text in enumerate(body.texts)]
        results = services.analyzer.seed_themes(await services.batcher.submit(items))
        services.metrics.texts_scored.inc(len(items))
        version = results[0].sentiment.model_version
        return SentimentOut(model_version=version, results=[_score(r.to_dict()) for r in results])
    (result,) = services.analyzer.seed_themes(await services.batcher.submit([_transcript_item(body)]))
    services.metrics.texts_scored.inc(len(body.turns))
    data = result.to_dict()
    call = _score(data)
    return SentimentOut.model_validate(
        {
            "model_version": result.sentiment.model_version,
            "results": [call],
            "call": call,
            "turns": [_turn(t) for t in data["turns"]],
            "call_reading": data.get("call"),  # the call's emotion trajectory and abnormal flag
        }
    )
