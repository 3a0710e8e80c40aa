"""Per-key rate limits of POST /v1/sentiment: a token bucket per key id, 429 problem+json with
Retry-After past it, other keys and other routes untouched, off by default, set by KESHENG_*."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from api.errors import PROBLEM_JSON
from api.ratelimit import RateLimiter
from api.settings import Settings, load_config
from nlp.errors import ConfigError
from tests.api.conftest import Service

TEXTS = {"texts": ["快递三天还没到，太慢了"]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take(7) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(7) == pytest.approx(0.5)  # empty: one token in half a second
    assert limiter.take(8) == 0.0  # another key has its own bucket
    clock.now += 0.25
    assert limiter.take(7) == pytest.approx(0.25)  # half a token back: a refusal takes none
    clock.now += 0.25
    assert limiter.take(7) == 0.0
    clock.now += 60
    assert [limiter.take(7) for _ in range(4)][-1] > 0  # a long pause fills the bucket to the burst, no more


def test_rate_zero_is_no_limit() -> None:
    limiter = RateLimiter(rate=0.0, burst=1)
    assert not limiter.enabled and all(limiter.take(1) == 0.0 for _ in range(1000))
    with pytest.raises(ValueError, match="0 or more"):
        RateLimiter(rate=-1.0, burst=5)


def test_a_key_over_its_limit_gets_429_with_retry_after(make_service: Callable[..., Service]) -> None:
    # One request every five seconds, two at once: the third of a quick run is refused however slow the
    # machine is, and the Retry-After it gets is at most five seconds.
    service = make_service(rate_limit_per_second=0.2, rate_limit_burst=2)
    crm, other = service.key("service"), service.key("service")
    statuses = [service.client.post("/v1/sentiment", json=TEXTS, headers=crm).status_code for _ in range(2)]
    assert statuses == [200, 200]
    refused = service.client.post("/v1/sentiment", json=TEXTS, headers=crm)
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM_JSON
    wait = int(refused.headers["retry-after"])
    body = refused.json()
    assert 1 <= wait <= 5 and body["retry_after"] == wait and body["code"] == "E629"
    assert "KESHENG_RATE_LIMIT_PER_SECOND" in body["detail"] and f"retry in {wait} s" in body["detail"]
    assert service.client.post("/v1/sentiment", json=TEXTS, headers=other).status_code == 200
    # Only the real-time route is limited; the limit is counted after the key is checked.
    assert service.client.get("/v1/models", headers=service.key("analyst")).status_code == 200
    assert service.client.post("/v1/sentiment", json=TEXTS, headers={"X-API-Key": "ks_junk"}).status_code == 401


def test_no_limit_by_default(service: Service) -> None:
    assert Settings().rate_limit_per_second == 0
    crm = service.key("service")
    burst = Settings().rate_limit_burst
    statuses = {service.client.post("/v1/sentiment", json=TEXTS, headers=crm).status_code for _ in range(burst + 5)}
    assert statuses == {200}


def test_the_route_documents_429_and_retry_after(service: Service) -> None:
    operation = service.client.get("/openapi.json").json()["paths"]["/v1/sentiment"]["post"]
    limited = operation["responses"]["429"]
    assert PROBLEM_JSON in limited["content"] and "Retry-After" in limited["headers"]
    assert "per API process" in limited["description"]


def test_the_limit_is_set_in_the_environment() -> None:
    environ = {"KESHENG_RATE_LIMIT_PER_SECOND": "5", "KESHENG_RATE_LIMIT_BURST": "10"}
    settings = load_config(environ=environ).service
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (5.0, 10)
    with pytest.raises(ConfigError, match="RATE_LIMIT_PER_SECOND"):
        load_config(environ={"KESHENG_RATE_LIMIT_PER_SECOND": "-1"})
    with pytest.raises(ConfigError, match="RATE_LIMIT_BURST"):
        load_config(environ={"KESHENG_RATE_LIMIT_BURST": "0"})
