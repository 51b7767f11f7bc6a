"""Token buckets: a burst, then the sustained rate, per caller; the wait a 429 announces."""

from __future__ import annotations

import pytest

from exchange.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("EST") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("EST") == pytest.approx(0.5)  # one token comes back every 0.5 s
    clock.now += 0.5
    assert limiter.take("EST") == 0.0
    assert limiter.take("EST") == pytest.approx(0.5)


def test_buckets_refill_up_to_the_burst_only() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=2, clock=clock)
    limiter.take("EST")
    limiter.take("EST")
    clock.now += 3600  # a long pause refills to the burst, not beyond
    assert [limiter.take("EST") for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_each_caller_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Clock())
    assert limiter.take("EST") == 0.0
    assert limiter.take("EST") == pytest.approx(1.0)
    assert limiter.take("FIN") == 0.0


def test_a_refused_take_spends_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.take("EST")
    assert limiter.take("EST") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.take("EST") == 0.0


@pytest.mark.parametrize(("wait", "header"), [(0.0001, "1"), (0.5, "1"), (1.0, "1"), (1.01, "2"), (59.2, "60")])
def test_retry_after_rounds_up_to_whole_seconds(wait: float, header: str) -> None:
    assert RateLimiter.retry_after(wait) == header
