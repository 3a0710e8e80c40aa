"""Alerts raised by the service reach the rules' webhook: signed, once per event, retried after a failure."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.analysis import Analyzer
from api.app import create_app
from api.services import Services
from api.settings import Settings
from api.webhook import WebhookTarget
from api.webhooks import AlertDelivery
from nlp.alerts.rules import WebhookSettings
from tests.api.conftest import Service, survey_csv
from tests.api.test_webhook import SECRET, Receiver, receiver  # noqa: F401  (the receiver fixture)


@pytest.fixture
def hooked(
    tmp_path: Path,
    analyzer: Analyzer,
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Service]:
    """A service whose alert rules push to the test receiver."""
    monkeypatch.setenv("KESHENG_WEBHOOK_SECRET", SECRET.decode("utf-8"))
    pushing = copy.copy(analyzer)
    pushing.rules = replace(analyzer.rules, webhook=WebhookSettings(url=receiver.url, backoff_seconds=0.0))
    settings = Settings(data_dir=tmp_path / "data", lexicon=True, worker_poll_seconds=0.05)
    client = TestClient(create_app(settings, analyzer=pushing))
    client.__enter__()
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    yield Service(client, services)
    client.__exit__(None, None, None)


def upload_survey(service: Service) -> dict[str, str]:
    """Analyse the GBK survey (severe complaints from top-tier customers); returns analyst headers."""
    headers = service.key("analyst")
    batch = service.client.post("/v1/batches", files={"file": ("问卷.csv", survey_csv())}, headers=headers).json()
    assert service.wait(batch["id"], headers)["status"] == "done"
    return headers


def test_alerts_of_a_batch_are_pushed_once_each_and_signed(hooked: Service, receiver: Receiver) -> None:  # noqa: F811
    headers = hooked.key("analyst")
    batch_id = hooked.client.post("/v1/batches", files={"file": ("问卷.csv", survey_csv())}, headers=headers).json()[
        "id"
    ]
    assert hooked.wait(batch_id, headers)["status"] == "done"
    alerts = hooked.client.get("/v1/alerts?status=open", headers=headers).json()["items"]
    assert alerts, "the GBK survey has severe complaints from top-tier customers"
    deadline = time.monotonic() + 20
    while len(receiver.processed) < len(alerts) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(body["alert"]["id"] for body in receiver.processed.values()) == sorted(a["id"] for a in alerts)  # type: ignore[index]
    assert all(valid for _, valid in receiver.requests)
    assert len(receiver.requests) == len(alerts), "one POST per event, no duplicates"

    # The deliveries are stored: another round, or a restart, sends nothing again.
    target = WebhookTarget(receiver.url, SECRET, backoff_seconds=0.0)
    assert AlertDelivery(hooked.services.factory, target).deliver_pending() == 0
    assert len(receiver.requests) == len(alerts)


def test_a_failed_push_is_retried_by_a_later_round(service: Service, receiver: Receiver) -> None:  # noqa: F811
    headers = service.key("analyst")
    batch_id = service.client.post("/v1/batches", files={"file": ("问卷.csv", survey_csv())}, headers=headers).json()[
        "id"
    ]
    assert service.wait(batch_id, headers)["status"] == "done"
    total = service.client.get("/v1/alerts?status=open", headers=headers).json()["total"]
    delivery = AlertDelivery(service.services.factory, WebhookTarget(receiver.url, SECRET, max_attempts=1))
    receiver.failures = [503] * total  # the receiver is down for the first round
    assert delivery.deliver_pending() == 0
    assert delivery.deliver_pending() == total
    assert delivery.deliver_pending() == 0
    assert len(receiver.processed) == total
