"""Per-key rate limits (token bucket) and concurrency leases, in process.

A Redis-backed implementation with the same interface is the path beyond one process (see DECISIONS.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chorus.errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Lease:
    """A held concurrency slot; release it exactly once."""

    limiter: ConcurrencyLimiter
    key_id: str
    current: int
    maximum: int
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limiter._release(self.key_id)


class RateLimiter:
    """Token bucket per key: ``per_minute`` requests, refilled continuously, bursts up to the same."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._clock = clock

    def hit(self, key_id: str, per_minute: int) -> None:
        now = self._clock()
        rate = per_minute / 60.0
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(tokens=float(per_minute), updated=now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            retry_after = max(1, math.ceil((1.0 - bucket.tokens) / rate))
            raise TooManyRequests(
                f"Rate limit exceeded: this API key may make {per_minute} requests per minute. "
                f"Retry in {retry_after} s.",
                status="rate_limit_exceeded",
                headers={"Retry-After": str(retry_after)},
            )
        bucket.tokens -= 1.0


class ConcurrencyLimiter:
    """At most ``maximum`` requests in flight per key; the next one is refused with 429."""

    def __init__(self) -> None:
        # Only touched from the event loop thread, so plain dict updates are atomic.
        self._in_flight: dict[str, int] = {}

    def acquire(self, key_id: str, maximum: int) -> Lease:
        current = self._in_flight.get(key_id, 0)
        if current >= maximum:
            raise TooManyRequests(
                f"Too many concurrent requests: this API key may run {maximum} at once. "
                "Retry when one of them has finished.",
                status="concurrent_limit_exceeded",
                headers={
                    "Retry-After": "1",
                    "current-concurrent-requests": str(current),
                    "maximum-concurrent-requests": str(maximum),
                },
            )
        self._in_flight[key_id] = current + 1
        return Lease(self, key_id, current + 1, maximum)

    def in_flight(self, key_id: str) -> int:
        return self._in_flight.get(key_id, 0)

    def _release(self, key_id: str) -> None:
        remaining = self._in_flight.get(key_id, 0) - 1
        if remaining <= 0:
            self._in_flight.pop(key_id, None)
        else:
            self._in_flight[key_id] = remaining
