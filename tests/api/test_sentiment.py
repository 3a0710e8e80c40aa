"""POST /v1/sentiment: texts and transcripts, limits, keys and roles, and the micro-batcher."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.batcher import MicroBatcher
from api.settings import Settings
from tests.api.conftest import Service


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("快递太慢了，客服也不回消息，气死我了", "negative"),
        ("安装师傅很专业，非常满意", "positive"),
        ("退款一直不到账", "negative"),
    ],
)
def test_texts_are_scored_with_label_and_explanation(service: Service, text: str, label: str) -> None:
    response = service.client.post("/v1/sentiment", json={"texts": [text]}, headers=service.key("service"))
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "lexicon-1"
    (result,) = body["results"]
    assert result["label"] == label
    assert (result["score"] < 0) == (label == "negative")
    assert result["score"] == pytest.approx(1 - 2 * result["negative_probability"], abs=1e-3)
    assert result["model_version"] == "lexicon-1"
    assert result["probabilities"] is None, "the lexicon is a two-class scorer"
    assert result["explanation"], "the words that drove the result"


def test_several_texts_keep_their_order(service: Service) -> None:
    texts = ["非常满意", "太差了，再也不买了", "非常满意"]
    body = service.client.post("/v1/sentiment", json={"texts": texts}, headers=service.key("service")).json()
    assert [r["label"] for r in body["results"]] == ["positive", "negative", "positive"]
    assert body["results"][0] == body["results"][2]


def test_negative_text_gets_an_emotion(service: Service) -> None:
    body = service.client.post(
        "/v1/sentiment", json={"texts": ["气死我了，太过分了！"]}, headers=service.key("service")
    ).json()
    result = body["results"][0]
    assert (result["emotion"], result["emotion_name"]) == ("angry", "愤怒")
    assert result["emotion_probabilities"] is None, "the lexicon names an emotion without probabilities"


def test_positive_text_has_no_lexicon_emotion(service: Service) -> None:
    body = service.client.post("/v1/sentiment", json={"texts": ["非常满意"]}, headers=service.key("service")).json()
    assert (body["results"][0]["emotion"], body["results"][0]["emotion_name"]) == (None, None)


def test_a_polite_agent_does_not_make_an_angry_call_positive(service: Service) -> None:
    transcript = {
        "id": "call-9",
        "turns": [
            {"speaker": "客服", "text": "您好，非常感谢您的耐心，很高兴为您服务"},
            {"speaker": "客户", "text": "退款拖了一个月还没到账，太差劲了"},
            {"speaker": "agent", "text": "非常抱歉，我们马上处理，祝您生活愉快"},
        ],
    }
    body = service.client.post("/v1/sentiment", json=transcript, headers=service.key("service")).json()
    assert [t["speaker"] for t in body["turns"]] == ["agent", "customer", "agent"]
    assert body["turns"][0]["label"] == "positive"
    assert body["call"]["label"] == "negative"
    assert body["results"] == [body["call"]]
    assert body["call"]["negative_probability"] == body["turns"][1]["negative_probability"]
    assert body["turns"][0]["emotion"] is None, "positive text has no lexicon emotion"
    assert (body["turns"][1]["emotion"], body["turns"][1]["emotion_name"]) == ("fear", "焦虑")  # 拖了一个月还没到账
    reading = body["call_reading"]  # from the customer's turns only
    assert (reading["start"], reading["end"], reading["trajectory"]) == ("fear", "fear", "情绪始终焦虑")


THREE_WAY_TEXTS = [
    ("快递太慢了，客服也不回消息，气死我了", "negative", "angry", "愤怒"),
    ("我想问一下发票怎么开", "neutral", "neutral", "中性"),
    ("安装师傅很专业，非常满意", "positive", "happy", "满意"),
    ("净水器漏水三次了，一直没人来修，太失望了", "negative", "sad", "失望"),
]


def test_a_three_way_model_gives_three_probabilities_and_six_emotions(three_way_service: Service) -> None:
    texts = [t for t, *_ in THREE_WAY_TEXTS]
    headers = three_way_service.key("service")
    body = three_way_service.client.post("/v1/sentiment", json={"texts": texts}, headers=headers).json()
    assert body["model_version"] == "fake-three-way-1"
    for result, (_, label, emotion, name) in zip(body["results"], THREE_WAY_TEXTS, strict=True):
        probabilities = result["probabilities"]
        assert set(probabilities) == {"negative", "neutral", "positive"}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-3)
        assert result["label"] == label == max(probabilities, key=probabilities.get)
        assert result["negative_probability"] == probabilities["negative"]
        assert result["score"] == pytest.approx(probabilities["positive"] - probabilities["negative"], abs=1e-3)
        assert result["model_version"] == "fake-three-way-1"
        assert (result["emotion"], result["emotion_name"]) == (emotion, name)
        emotions = result["emotion_probabilities"]
        assert set(emotions) == {"angry", "sad", "fear", "surprise", "happy", "neutral"}
        assert sum(emotions.values()) == pytest.approx(1.0, abs=1e-3)
        assert max(emotions, key=emotions.get) == emotion


@pytest.mark.parametrize(
    ("last", "end", "trajectory", "reasons"),
    [
        ("好的，谢谢，这样处理我很满意", "happy", "情绪由怒转喜", []),
        ("你们太过分了，我要投诉", "angry", "情绪始终愤怒", ["ends_angry", "negative_after_reply"]),
    ],
)
def test_a_call_gets_its_trajectory_and_abnormal_flag(
    three_way_service: Service, last: str, end: str, trajectory: str, reasons: list[str]
) -> None:
    transcript = {
        "id": "call-12",
        "turns": [
            {"speaker": "客户", "text": "退款一个月了还没到账，气死我了"},
            {"speaker": "客服", "text": "非常抱歉，马上为您加急处理"},
            {"speaker": "客户", "text": last},
        ],
    }
    headers = three_way_service.key("service")
    body = three_way_service.client.post("/v1/sentiment", json=transcript, headers=headers).json()
    assert [t["emotion"] for t in body["turns"]] == ["angry", "neutral", end]
    assert body["turns"][1]["emotion_name"] == "中性" and len(body["turns"][0]["emotion_probabilities"]) == 6
    assert body["turns"][1]["probabilities"]["neutral"] == pytest.approx(0.78)
    reading = body["call_reading"]
    assert (reading["start"], reading["end"], reading["trajectory"]) == ("angry", end, trajectory)
    assert reading["abnormal"] == bool(reasons)
    assert [r["code"] for r in reading["reasons"]] == reasons
    assert all(r["text"] for r in reading["reasons"])  # 客户以愤怒结束通话, in the words the team reads


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"texts": []}, "texts"),
        ({"texts": ["好"] * 65}, "texts"),
        ({"texts": ["长" * 2001]}, "texts.0"),
        ({"texts": "快递太慢"}, "texts"),
        ({"turns": []}, "turns"),
        ({"turns": [{"speaker": "路人", "text": "你好"}]}, "turns.0.speaker"),
        ({"texts": ["好"], "extra": 1}, "extra"),
    ],
)
def test_bad_requests_are_problems_naming_the_field(service: Service, payload: object, where: str) -> None:
    response = service.client.post("/v1/sentiment", json=payload, headers=service.key("service"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert where in response.json()["detail"]


def test_malformed_json_is_a_problem(service: Service) -> None:
    response = service.client.post(
        "/v1/sentiment",
        content=b'{"texts": ["\xe5\xbf\xab',
        headers={**service.key("service"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["status"] == 422


def test_keys_are_required_and_checked(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    body = {"texts": ["快递太慢"]}
    missing = service.client.post("/v1/sentiment", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "E601"
    wrong = service.client.post(
        "/v1/sentiment", json=body, headers={"X-API-Key": "ks_00000000_notarealkeyatallxxxxxxxx"}
    )
    assert wrong.status_code == 401
    header = service.key("service")
    key = header["Authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.DEBUG):
        assert service.client.post("/v1/sentiment", json=body, headers={"X-API-Key": key}).status_code == 200
        assert service.client.get("/v1/batches", headers=header).status_code == 403
    assert key not in caplog.text


def test_the_model_is_the_one_loaded_at_start(tmp_path: Path, tiny_model_dir: Path) -> None:
    settings = Settings(data_dir=tmp_path, model_dir=tiny_model_dir, redact_names=False, worker=False)
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        from api.keys import create_key

        with services.factory() as session, session.begin():
            _, key = create_key(session, "service")
        body = client.post("/v1/sentiment", json={"texts": ["快递太慢", "满意"]}, headers={"X-API-Key": key}).json()
        assert body["model_version"] == "tiny-test-1"
        assert client.get("/readyz").json() == {
            "status": "ready",
            "model_version": "tiny-test-1",
            "database": "ok",
            "worker": "off",
            "model_error": None,
        }


def test_concurrent_requests_share_model_calls() -> None:
    calls: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        calls.append(items)
        return [text.upper() for text in items]

    async def main() -> list[list[str]]:
        batcher: MicroBatcher[str, str] = MicroBatcher(run, max_items=64, window=0.02)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit([f"t{i}", f"u{i}"]) for i in range(10)))
        finally:
            await batcher.stop()

    outputs = asyncio.run(main())
    assert outputs == [[f"T{i}", f"U{i}"] for i in range(10)]
    assert len(calls) < 10, "requests waiting together go to the model together"
    assert sum(len(c) for c in calls) == 20


def test_a_model_error_reaches_every_waiting_request() -> None:
    def run(items: list[str]) -> list[str]:
        raise RuntimeError("model failed")

    async def main() -> list[object]:
        batcher: MicroBatcher[str, str] = MicroBatcher(run)
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(["x"]) for _ in range(3)), return_exceptions=True)
        finally:
            await batcher.stop()

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))


def test_health_and_metrics(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    assert service.client.get("/readyz").json()["worker"] == "running"
    service.client.post("/v1/sentiment", json={"texts": ["好"]}, headers=service.key("service"))
    metrics = service.client.get("/metrics").text
    assert 'kesheng_http_requests_total{method="POST",route="/v1/sentiment",status="200"} 1.0' in metrics
    assert "kesheng_realtime_batch_items_count" in metrics
