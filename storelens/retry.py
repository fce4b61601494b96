"""Retry delays with jitter, shared by every retry loop (MQTT reconnect, publisher, cameras, ingest).

Without jitter a fleet retries in lock-step: when a broker or database comes back, every device
that lost it at the same moment knocks again at the same moments 1, 2, 4 ... s later. Each delay
here is exponential in the attempt number and then spread uniformly over its upper `jitter`
fraction ("equal jitter" at the default 0.5: never less than half the nominal delay, so a dead
server is not hammered, yet devices drift apart by up to half a delay on every attempt).
"""

from __future__ import annotations

import random
from collections.abc import Callable


def jittered(delay_s: float, jitter: float = 0.5, rng: Callable[[], float] = random.random) -> float:
    """`delay_s` spread over [delay_s * (1 - jitter), delay_s]."""
    return delay_s * (1.0 - jitter * rng())


class Backoff:
    """Exponential backoff with jitter: `next()` for each failed attempt, `reset()` on success."""

    def __init__(self, first_s: float, max_s: float, *, factor: float = 2.0, jitter: float = 0.5,
                 rng: Callable[[], float] | None = None) -> None:
        if not (0 < first_s <= max_s) or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(f"bad backoff: first {first_s}, max {max_s}, factor {factor}, jitter {jitter}")
        self.first_s = first_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random().random  # own generator: threads do not share a sequence
        self.attempts = 0

    def nominal(self) -> float:
        """The un-jittered delay of the next attempt."""
        return min(self.max_s, self.first_s * self.factor ** min(self.attempts, 64))

    def next(self) -> float:
        """Seconds to wait before the next attempt."""
        delay = jittered(self.nominal(), self.jitter, self._rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
