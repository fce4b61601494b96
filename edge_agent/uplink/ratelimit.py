"""A token bucket: the long-run upload rate never exceeds the store's bandwidth cap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` bytes per second with a burst of one second's worth; rate 0 means unlimited.

    A message larger than the burst is still sent: the bucket goes into debt and the next
    take() waits it off, so the average holds without ever refusing a window.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.capacity = float(rate)
        self.clock = clock
        self.tokens = self.capacity
        self.stamp = clock()

    def take(self, amount: int, stop: threading.Event | None = None) -> float:
        """Spend `amount` bytes, sleeping as needed; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= amount
        if self.tokens >= 0:
            return 0.0
        delay = -self.tokens / self.rate
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
        return delay
