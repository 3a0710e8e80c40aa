"""Signed webhook delivery of alerts, with retries, backoff and an idempotency key (stdlib urllib).

Every POST carries
- ``X-Kesheng-Timestamp``: Unix seconds when the attempt was made;
- ``X-Kesheng-Signature``: ``sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` with the shared secret,
  so a receiver can check origin and integrity, and reject replays older than a few minutes;
- ``Idempotency-Key``: the same on every retry of the same event (alert id + event), so a receiver
  that saw the first attempt arrive (even if we did not see its answer) can drop the duplicate.

A 2xx answer is success. 408, 429 and 5xx answers and network errors are retried with exponential
backoff; other 4xx answers and redirects are not (the request or the url is wrong, retrying cannot
help). The outcome
is recorded on the alert (`Alert.deliveries`), and an event already delivered is not sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from nlp.alerts import Alert, Delivery
from nlp.alerts.rules import WebhookSettings
from nlp.errors import ConfigError

SIGNATURE_HEADER = "X-Kesheng-Signature"
TIMESTAMP_HEADER = "X-Kesheng-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Receivers should refuse a signature whose timestamp is further than this from their clock.
DEFAULT_TOLERANCE_SECONDS = 300
_RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookTarget:
    """A resolved destination: the settings plus the secret read at the edge."""

    url: str
    secret: bytes
    max_attempts: int = 4
    backoff_seconds: float = 1.0
    backoff_factor: float = 2.0
    timeout_seconds: float = 5.0


def target_from_settings(settings: WebhookSettings, environ: Mapping[str, str] | None = None) -> WebhookTarget | None:
    """The target described by the rules file, or None when no url is set. The secret comes from the
    environment variable the settings name; a url without a secret is a ConfigError."""
    if not settings.url:
        return None
    env = os.environ if environ is None else environ
    secret = env.get(settings.secret_env, "")
    if not secret:
        raise ConfigError(
            f"webhook.secret_env = {settings.secret_env!r}: the variable is unset or empty, "
            f"and webhook.url is set; set it to the shared secret ({ConfigError.code})"
        )
    return WebhookTarget(
        url=settings.url,
        secret=secret.encode("utf-8"),
        max_attempts=settings.max_attempts,
        backoff_seconds=settings.backoff_seconds,
        backoff_factor=settings.backoff_factor,
        timeout_seconds=settings.timeout_seconds,
    )


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Receiver side: is the signature right, and the timestamp fresh (against replays)?"""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def event_of(alert: Alert) -> str:
    """What is being announced: the status, or "escalated" for an open alert that was escalated."""
    return "escalated" if alert.status == "open" and alert.escalated else alert.status


def idempotency_key(alert: Alert) -> str:
    """Stable across retries and re-runs for the same alert event."""
    return f"{alert.id}:{event_of(alert)}"


def body_of(alert: Alert) -> bytes:
    """The JSON body: the event and the alert (without its own delivery records)."""
    data = alert.to_dict()
    del data["deliveries"]
    return json.dumps({"event": f"alert.{event_of(alert)}", "alert": data}, ensure_ascii=False).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: urllib would turn the POST into a bodiless GET."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _attempt(target: WebhookTarget, body: bytes, key: str, clock: Callable[[], float]) -> tuple[int | None, str]:
    """One POST: (HTTP status or None on a network error, error text or "")."""
    timestamp = str(int(clock()))
    request = urllib.request.Request(
        target.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "kesheng-webhook/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(target.secret, timestamp, body),
            IDEMPOTENCY_HEADER: key,
        },
    )
    try:
        with _OPENER.open(request, timeout=target.timeout_seconds) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return None, str(getattr(error, "reason", error))


def _retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status in _RETRY_STATUSES


def is_delivered(alert: Alert) -> bool:
    """True when the alert's current event has been delivered successfully."""
    key = idempotency_key(alert)
    return any(d.idempotency_key == key and d.status == "delivered" for d in alert.deliveries)


def backoff(target: WebhookTarget, attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt before the next one."""
    return target.backoff_seconds * target.backoff_factor ** (attempts - 1)


def should_retry(target: WebhookTarget, status: int | None, attempts: int) -> bool:
    """Whether an attempt answered `status` (None: a network error) is tried again after `attempts`."""
    return not (status is not None and 200 <= status < 300) and _retryable(status) and attempts < target.max_attempts


def attempt(alert: Alert, target: WebhookTarget, clock: Callable[[], float] = time.time) -> tuple[int | None, str]:
    """One signed POST of the alert's current event: (HTTP status or None on a network error, error text)."""
    return _attempt(target, body_of(alert), idempotency_key(alert), clock)


def recorded(
    alert: Alert,
    target: WebhookTarget,
    status: int | None,
    error: str,
    attempts: int,
    clock: Callable[[], float] = time.time,
) -> Alert:
    """The alert with the outcome of its delivery (the last answer after `attempts` attempts) recorded."""
    delivered = status is not None and 200 <= status < 300
    record = Delivery(
        channel="webhook",
        target=target.url,
        idempotency_key=idempotency_key(alert),
        status="delivered" if delivered else "failed",
        attempts=attempts,
        time=datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds"),
        response_status=status,
        error=None if delivered else error,
    )
    return replace(alert, deliveries=(*alert.deliveries, record))


def deliver(
    alert: Alert,
    target: WebhookTarget,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Alert:
    """POST the alert's current event to the target, retrying with backoff; returns the alert with
    the delivery recorded. An event already delivered is not sent again (the alert is returned as is).
    Celery workers run the same attempts as tasks, each retry a task of its own (api.distributed.tasks).
    """
    if is_delivered(alert):
        return alert
    attempts = 0
    while True:
        attempts += 1
        status, error = attempt(alert, target, clock)
        if not should_retry(target, status, attempts):
            return recorded(alert, target, status, error, attempts, clock)
        sleep(backoff(target, attempts))


def deliver_all(
    alerts: Iterable[Alert],
    target: WebhookTarget,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> list[Alert]:
    """`deliver` each alert in turn (one failing target does not stop the others)."""
    return [deliver(alert, target, sleep=sleep, clock=clock) for alert in alerts]
