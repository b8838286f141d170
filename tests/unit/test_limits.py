from __future__ import annotations

import pytest

from chorus.errors import TooManyRequests
from chorus.services.limits import ConcurrencyLimiter, RateLimiter


def test_token_bucket_refuses_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("k", per_minute=3)
    with pytest.raises(TooManyRequests) as info:
        limiter.hit("k", per_minute=3)
    assert info.value.http_status == 429
    assert info.value.headers["Retry-After"] == "20"
    limiter.hit("other", per_minute=3)  # keys are independent
    now[0] = 20.0
    limiter.hit("k", per_minute=3)


def test_concurrency_leases_count_and_release() -> None:
    limiter = ConcurrencyLimiter()
    first = limiter.acquire("k", 2)
    second = limiter.acquire("k", 2)
    assert (first.current, second.current, second.maximum) == (1, 2, 2)
    with pytest.raises(TooManyRequests) as info:
        limiter.acquire("k", 2)
    assert info.value.headers["maximum-concurrent-requests"] == "2"
    first.release()
    first.release()  # idempotent
    assert limiter.in_flight("k") == 1
    limiter.acquire("k", 2)
