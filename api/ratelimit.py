"""Per-key rate limits of the real-time route: one token bucket per API key id, in this process.

A key's bucket holds up to `burst` requests and refills at `rate` per second; a request takes one
token, and one that finds none is refused with 429 and the seconds until a token is back
(Retry-After). Rate 0 turns the limit off. The buckets live in the service's memory: with several
API processes behind a balancer each one limits on its own, so a key gets up to the rate times the
number of processes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from api.errors import ApiError
from api.settings import variable


class RateLimitedError(ApiError):
    code, status, title = "E629", 429, "Too many requests"

    @classmethod
    def after(cls, wait: float, limiter: RateLimiter) -> RateLimitedError:
        """The refusal of a request that may be retried in `wait` seconds (Retry-After, whole seconds)."""
        seconds = max(1, math.ceil(wait))
        # `headers` goes to api.errors.problem's headers, the rest of `extra` into the body.
        return cls(
            f"this API key is over its rate limit of {limiter.rate:g} requests per second (burst "
            f"{limiter.burst}; {variable('rate_limit_per_second')}); retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            retry_after=seconds,
        )


class RateLimiter:
    """Token buckets by key id: `take(key_id)` is 0.0 when the request may go, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or burst < 0:
            raise ValueError(f"rate limit: rate {rate} and burst {burst} must be 0 or more")
        self.rate = rate
        # A bucket holds at least one request, else a positive rate would refuse every one.
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key id → (tokens, when they were counted)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key_id: int) -> float:
        """Take a token of `key_id`'s bucket: 0.0 if there was one, else the seconds until there is."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate
