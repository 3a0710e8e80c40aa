"""Webhook delivery against a real HTTP receiver on 127.0.0.1 that checks the signature and drops
duplicates by idempotency key, as a ticketing system on the other end would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from api.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookTarget,
    body_of,
    deliver,
    idempotency_key,
    sign,
    target_from_settings,
    verify,
)
from kesheng.alerts_store import AlertStore, run_alerts
from nlp.alerts import Alert, AlertState, evaluate, load_rules, rules_from_dict
from nlp.alerts.rules import WebhookSettings
from nlp.errors import ConfigError
from nlp.schema import Result, Sentiment

SECRET = b"s3cret-\xe5\xae\xa2\xe5\xa3\xb0"
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """What the receiver saw: every request, and the events it processed (once per idempotency key)."""

    url: str = ""
    # Status codes to answer, in order, before answering 200 (the event is processed even on a 500:
    # the receiver stored it and then failed to answer, the case idempotency keys exist for).
    failures: list[int] = field(default_factory=list)
    requests: list[tuple[str, bool]] = field(default_factory=list)
    processed: dict[str, dict[str, object]] = field(default_factory=dict)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = verify(
                SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER], now=time.time()
            )
            key = self.headers[IDEMPOTENCY_HEADER]
            seen.requests.append((key, valid))
            if not valid:
                self.send_response(401)
            else:
                seen.processed.setdefault(key, json.loads(body))
                self.send_response(seen.failures.pop(0) if seen.failures else 200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/kesheng"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _target(url: str, secret: bytes = SECRET, attempts: int = 3) -> WebhookTarget:
    return WebhookTarget(url=url, secret=secret, max_attempts=attempts, backoff_seconds=0.5, timeout_seconds=5)


def _items() -> list[Result]:
    texts = ["骑手送错地址还不接电话，等了两个小时", "送餐太慢了，饭都凉了", "很快，好吃，味道足"]
    return [
        Result(
            id=f"q{i}",
            kind="survey",
            text=texts[0 if i < 20 else 2 if i >= 22 else 1],
            sentiment=Sentiment("negative" if i < 22 else "positive", 0.0, 0.8 if i < 22 else 0.2, "labels"),
            themes=("物流配送",),
            meta={"tier": "白银", "region": "华东", "date": "2026-11-09"},
        )
        for i in range(26)
    ]


RULES = {"share": [{"name": "share", "threshold": 0.5, "min_volume": 20}]}


def _alert() -> Alert:
    raised, _ = evaluate(_items(), rules_from_dict(RULES), AlertState(), NOW)
    assert len(raised) == 1
    return raised[0]


def test_retry_after_500_is_signed_and_seen_once(receiver: Receiver) -> None:
    receiver.failures = [500]
    delays: list[float] = []
    alert = _alert()
    delivered = deliver(alert, _target(receiver.url), sleep=delays.append)
    key = idempotency_key(alert)
    assert receiver.requests == [(key, True), (key, True)]  # both attempts carried a valid signature
    assert list(receiver.processed) == [key]  # the retry was recognised as the same event
    assert receiver.processed[key]["event"] == "alert.open"
    assert receiver.processed[key]["alert"]["id"] == alert.id  # type: ignore[index]
    assert delays == [0.5]
    record = delivered.deliveries[-1]
    assert (record.status, record.attempts, record.response_status, record.error) == (
        "delivered",
        2,
        200,
        None,
    )
    # Delivering the same event again sends nothing.
    assert deliver(delivered, _target(receiver.url), sleep=delays.append) == delivered
    assert len(receiver.requests) == 2


def test_wrong_secret_is_rejected_and_not_retried(receiver: Receiver) -> None:
    delivered = deliver(_alert(), _target(receiver.url, secret=b"wrong"), sleep=lambda _: None)
    assert receiver.requests == [(idempotency_key(delivered), False)]
    assert receiver.processed == {}
    record = delivered.deliveries[-1]
    assert (record.status, record.attempts, record.response_status) == ("failed", 1, 401)


@pytest.mark.parametrize("status", [400, 404, 302])
def test_client_errors_and_redirects_are_not_retried(receiver: Receiver, status: int) -> None:
    receiver.failures = [status]
    delivered = deliver(_alert(), _target(receiver.url), sleep=lambda _: None)
    record = delivered.deliveries[-1]
    assert (record.status, record.attempts, record.response_status) == ("failed", 1, status)
    assert len(receiver.requests) == 1


def test_server_errors_are_retried_with_exponential_backoff(receiver: Receiver) -> None:
    receiver.failures = [503, 502, 500, 500]
    delays: list[float] = []
    delivered = deliver(_alert(), _target(receiver.url, attempts=4), sleep=delays.append)
    assert delays == [0.5, 1.0, 2.0]
    assert delivered.deliveries[-1].status == "failed" and delivered.deliveries[-1].attempts == 4
    assert len(receiver.processed) == 1 and len(receiver.requests) == 4


def test_unreachable_receiver_is_recorded_as_failed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens on this port now
    delivered = deliver(_alert(), _target(f"http://127.0.0.1:{port}/", attempts=2), sleep=lambda _: None)
    record = delivered.deliveries[-1]
    assert (record.status, record.attempts, record.response_status) == ("failed", 2, None)
    assert record.error


def test_run_alerts_delivers_once_and_records_it_in_the_state(receiver: Receiver, tmp_path: Path) -> None:
    rules_path = tmp_path / "alerts.toml"
    rules_path.write_text('[[share]]\nname = "share"\nthreshold = 0.5\nmin_volume = 20\n', encoding="utf-8")
    state_path = tmp_path / "state.json"
    send = partial(deliver, target=_target(receiver.url), sleep=lambda _: None)
    first = run_alerts(_items(), load_rules(rules_path), state_path, NOW, deliver=send)
    second = run_alerts(_items(), load_rules(rules_path), state_path, NOW, deliver=send)
    assert len(receiver.requests) == 1 and len(receiver.processed) == 1
    assert [d.status for d in first[0].deliveries] == ["delivered"]
    assert AlertStore(state_path).load().alerts == tuple(second) and second[0].deliveries == first[0].deliveries


@pytest.mark.parametrize(
    ("tamper", "valid"),
    [("none", True), ("body", False), ("timestamp", False), ("stale", False)],
)
def test_verify(tamper: str, valid: bool) -> None:
    body = body_of(_alert())
    timestamp = str(int(time.time()))
    signature = sign(SECRET, timestamp, body)
    if tamper == "body":
        body = body.replace("华东".encode(), "华南".encode())
    if tamper == "timestamp":
        timestamp = str(int(timestamp) + 1)
    now = time.time() + (3600 if tamper == "stale" else 0)
    assert verify(SECRET, timestamp, body, signature, now=now) is valid


def test_target_needs_the_secret_from_the_environment() -> None:
    settings = WebhookSettings(url="https://hooks.example.com/kesheng", secret_env="KS_TEST_SECRET")
    assert target_from_settings(WebhookSettings(url="")) is None
    target = target_from_settings(settings, {"KS_TEST_SECRET": "abc"})
    assert target is not None and target.secret == b"abc"
    with pytest.raises(ConfigError, match="KS_TEST_SECRET"):
        target_from_settings(settings, {})
