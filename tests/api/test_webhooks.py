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
from tests.api.conftest import LEGAL_THREAT, SURVEY_ROWS, Service, survey_csv
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
    """Analyse the GBK survey with the legal threat among its answers; returns analyst headers.

    The diamond complaints S01 and S04 are follow-ups (GET /v1/followups), not alerts: what pages a
    department is S09, a top-tier complaint naming 漏电, 律师 and 起诉.
    """
    headers = service.key("analyst")
    content = survey_csv([*SURVEY_ROWS, LEGAL_THREAT])
    batch = service.client.post("/v1/batches", files={"file": ("问卷.csv", content)}, headers=headers).json()
    assert service.wait(batch["id"], headers)["status"] == "done"
    return headers


def test_alerts_of_a_batch_are_pushed_once_each_and_signed(hooked: Service, receiver: Receiver) -> None:  # noqa: F811
    headers = upload_survey(hooked)
    alerts = hooked.client.get("/v1/alerts?status=open", headers=headers).json()["items"]
    assert [a["item_id"] for a in alerts if a["kind"] == "severe"] == ["S09"], "the legal threat, not S01 or S04"
    followups = {f["item_id"] for f in hooked.client.get("/v1/followups", headers=headers).json()["items"]}
    assert {"S01", "S04"} <= followups
    deadline = time.monotonic() + 20
    while len(receiver.processed) < len(alerts) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(body["alert"]["id"] for body in receiver.processed.values()) == sorted(a["id"] for a in alerts)  # type: ignore[index]
    pushed = [body["alert"]["item_id"] for body in receiver.processed.values()]  # type: ignore[index]
    assert "S09" in pushed and not {"S01", "S04"} & set(pushed), "follow-ups are not pushed as alerts"
    assert all(valid for _, valid in receiver.requests)
    assert len(receiver.requests) == len(alerts), "one POST per event, no duplicates"

    # The deliveries are stored: another round, or a restart, sends nothing again.
    target = WebhookTarget(receiver.url, SECRET, backoff_seconds=0.0)
    assert AlertDelivery(hooked.services.factory, target).deliver_pending() == 0
    assert len(receiver.requests) == len(alerts)


def test_a_failed_push_is_retried_by_a_later_round(service: Service, receiver: Receiver) -> None:  # noqa: F811
    headers = upload_survey(service)
    total = service.client.get("/v1/alerts?status=open", headers=headers).json()["total"]
    assert total >= 1, "the legal threat's severe alert at least"
    delivery = AlertDelivery(service.services.factory, WebhookTarget(receiver.url, SECRET, max_attempts=1))
    receiver.failures = [503] * total  # the receiver is down for the first round
    assert delivery.deliver_pending() == 0
    assert delivery.deliver_pending() == total
    assert delivery.deliver_pending() == 0
    assert len(receiver.processed) == total
