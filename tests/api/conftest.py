"""Fixtures of the service tests: one analyzer per session (loading takes seconds), an app per test on
its own SQLite database, keys of each role, and a three-way scorer that reads emotions."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.analysis import Analyzer
from api.app import create_app
from api.keys import create_key
from api.model_holder import ModelHolder
from api.services import Services
from api.settings import Settings
from nlp.config import SentimentConfig
from nlp.schema import EMOTIONS, Emotion, EmotionLabel, Sentiment
from nlp.sentiment import sentiment_from_probabilities

# Survey answers as a customer-service export would have them: GBK, Chinese headers, one bad row.
SURVEY_ROWS = [
    (
        "S01",
        "快递三天还没到，打了客服电话13912345678也没人管，太差了",
        "钻石",
        "电话回访",
        "华东",
        "净水器",
        "2026-11-02",
        "1",
    ),
    ("S02", "安装师傅很专业，非常满意", "黄金", "微信", "华南", "净水器", "2026-11-03", "10"),
    ("S03", "", "白银", "APP", "华北", "扫地机器人", "2026-11-04", "5"),
    ("S04", "退款一直不到账，客服态度恶劣，气死我了", "钻石", "APP", "华东", "扫地机器人", "2026-11-04", "0"),
    ("S05", "物流太慢了，包装也破了", "基础", "APP", "华东", "净水器", "2026-11-05", "3"),
    ("S06", "价格实惠，质量不错，下次还买", "黄金", "微信", "华南", "扫地机器人", "2026-11-05", "9"),
    ("S07", "发票一直没开，催了好几次", "白银", "电话回访", "华北", "净水器", "2026-11-06", "4"),
    ("S08", "客服小王很耐心，问题很快解决了", "钻石", "微信", "华东", "净水器", "2026-11-06", "10"),
]
HEADER = "编号,回答,客户等级,渠道,区域,产品线,日期,NPS评分"
# A diamond customer's complaint naming a safety harm and a legal threat: what the severe rule names
# (data/alerts.toml [[severe]] safety_legal). The diamond complaints of SURVEY_ROWS (S01, S04) are
# follow-ups, not alerts.
LEGAL_THREAT = (
    "S09",
    "热水器漏电把孩子的手烫伤了，我要找律师起诉你们",
    "钻石",
    "APP",
    "华东",
    "热水器",
    "2026-11-06",
    "0",
)


def survey_csv(rows: Sequence[tuple[str, ...]] = SURVEY_ROWS, encoding: str = "gbk") -> bytes:
    return ("\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n").encode(encoding)


TRANSCRIPTS_JSONL = "\n".join(
    [
        '{"id": "c1", "turns": [{"speaker": "客服", "text": "您好，这里是回访，请问对净水器满意吗？"}, '
        '{"speaker": "客户", "text": "漏水了，打了三次电话都没人来修，太失望了"}], '
        '"meta": {"tier": "钻石", "channel": "电话回访", "region": "华东", "product": "净水器", "date": "2026-11-02"}}',
        '{"id": "c2", "turns": [{"speaker": "坐席", "text": "请问安装服务满意吗？"}, '
        '{"speaker": "顾客", "text": "挺满意的，师傅很准时"}], '
        '"meta": {"tier": "黄金", "channel": "电话回访", "region": "华南", "product": "净水器", "date": "2026-11-03"}}',
    ]
).encode("utf-8")


@pytest.fixture(scope="session")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    """The lexicon scorer (meaningful, deterministic labels) with person-name redaction on."""
    return Analyzer(Settings(data_dir=tmp_path_factory.mktemp("unused"), lexicon=True))


@dataclass
class Service:
    client: TestClient
    services: Services

    def key(self, role: str = "analyst") -> dict[str, str]:
        with self.services.factory() as session, session.begin():
            _, key = create_key(session, role)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {key}"}

    def staged(self) -> int:
        """Uploads waiting in the data folder (api.staging), encrypted."""
        return len(list((self.services.settings.data_dir / "staging").glob("*.upload")))

    def wait(self, batch_id: int, headers: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
        """Poll the batch until it is done or failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.client.get(f"/v1/batches/{batch_id}", headers=headers).json()
            if body["status"] in ("done", "failed"):
                return body
            time.sleep(0.05)
        raise AssertionError(f"batch {batch_id} not finished after {timeout}s")


@pytest.fixture
def make_service(tmp_path: Path, analyzer: Analyzer) -> Iterator[Callable[..., Service]]:
    """Start an app on a fresh SQLite database; keyword arguments are Settings fields."""
    started: list[TestClient] = []

    def start(**overrides: Any) -> Service:
        settings = Settings(
            data_dir=tmp_path / f"data{len(started)}", lexicon=True, worker_poll_seconds=0.05, **overrides
        )
        client = TestClient(create_app(settings, analyzer=analyzer))
        client.__enter__()
        started.append(client)
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        return Service(client, services)

    yield start
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service()


# What ThreeWayScorer reads from a text: the first rule whose word the text contains gives
# P(negative, neutral, positive) and the six emotion probabilities (angry sad fear surprise happy neutral).
Reading = tuple[tuple[float, float, float], EmotionLabel, tuple[float, ...]]
THREE_WAY_RULES: tuple[tuple[tuple[str, ...], Reading], ...] = (
    (("气死", "太差", "过分", "投诉"), ((0.86, 0.1, 0.04), "angry", (0.7, 0.15, 0.05, 0.03, 0.02, 0.05))),
    (("失望", "没人"), ((0.72, 0.2, 0.08), "sad", (0.12, 0.64, 0.1, 0.04, 0.02, 0.08))),
    (("满意", "专业", "准时", "谢谢"), ((0.03, 0.12, 0.85), "happy", (0.01, 0.02, 0.01, 0.06, 0.8, 0.1))),
)
NEUTRAL_READING: Reading = ((0.12, 0.78, 0.1), "neutral", (0.03, 0.04, 0.05, 0.06, 0.07, 0.75))


class ThreeWayScorer:
    """A stand-in for a three-way model with an emotion head, so that the surfaces can be tested
    whatever models/default is today."""

    version = "fake-three-way-1"

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        return [self._read(t) for t in texts]

    def _read(self, text: str) -> Sentiment:
        polarity, label, emotions = next(
            (reading for words, reading in THREE_WAY_RULES if any(w in text for w in words)), NEUTRAL_READING
        )
        emotion = Emotion(label, dict(zip(EMOTIONS, emotions, strict=True)))
        return sentiment_from_probabilities(polarity, self.version, SentimentConfig(), emotion)


@pytest.fixture
def three_way_service(tmp_path: Path, analyzer: Analyzer) -> Iterator[Service]:
    """An app whose scorer is ThreeWayScorer (the session's analyzer, copied with its own holder)."""
    settings = Settings(data_dir=tmp_path / "three-way", lexicon=True, worker_poll_seconds=0.05)
    three_way = copy.copy(analyzer)
    three_way.holder = ModelHolder(ThreeWayScorer(), "three-way test scorer")
    with TestClient(create_app(settings, analyzer=three_way)) as client:
        yield Service(client, client.app.state.services)  # type: ignore[attr-defined]
