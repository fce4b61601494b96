"""The upload cap: a token bucket whose long-run rate never exceeds the configured bytes/s."""

from __future__ import annotations

import pytest

from edge_agent.uplink.ratelimit import TokenBucket


class FakeClock:
    """Monotonic time that advances only when the bucket sleeps (patched time.sleep)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "sizes", "expected_total_wait"),
    [
        (1000, [500, 500], 0.0),  # within the 1 s burst
        (1000, [500, 500, 1000], 1.0),  # one second of debt
        (1000, [5000], 4.0),  # a message bigger than the burst is sent, then waited off
        (100, [100] * 11, 10.0),
        (0, [10**9], 0.0),  # 0 = unlimited
    ],
)
def test_waits_add_up_to_the_cap(monkeypatch, rate, sizes, expected_total_wait) -> None:
    clock = FakeClock()
    monkeypatch.setattr("edge_agent.uplink.ratelimit.time.sleep", lambda s: setattr(clock, "now", clock.now + s))
    bucket = TokenBucket(rate, clock=clock)
    waited = sum(bucket.take(n) for n in sizes)
    assert waited == pytest.approx(expected_total_wait)
    if rate:
        assert sum(sizes) <= rate * (clock.now + 1) + 1e-6  # bytes sent <= rate x elapsed + burst
