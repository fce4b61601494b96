"""Log a flaky dependency once when it fails and once when it recovers, not on every retry.

A link that flaps (connects, is dropped, connects again) would still log twice per cycle, so a
failure with the same reason as one already logged within `quiet_s` goes to DEBUG, and so does
the recovery that follows it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class LinkState:
    """Up/down state of one dependency (broker, Redis, database) with transition-only logging."""

    def __init__(self, name: str, logger: logging.Logger, *, quiet_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.log = logger
        self.quiet_s = quiet_s
        self.clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._loud = False  # whether the current outage was logged at ERROR
        self._last: tuple[str, float] | None = None  # last reason logged loudly, and when
        self._up = threading.Event()

    @property
    def up(self) -> bool:
        return self._up.is_set()

    @property
    def failing(self) -> bool:
        """Inside an outage (unlike `not up`, False before the first attempt succeeded or failed)."""
        return self._down

    def wait_up(self, timeout: float) -> bool:
        return self._up.wait(timeout)

    def failed(self, reason: str) -> None:
        self._up.clear()
        with self._lock:
            if self._down:
                return
            self._down = True
            now = self.clock()
            self._loud = not (self._last and self._last[0] == reason and now - self._last[1] < self.quiet_s)
            if self._loud:
                self._last = (reason, now)
        level = logging.ERROR if self._loud else logging.DEBUG
        self.log.log(level, "%s unavailable: %s (retrying quietly with backoff)", self.name, reason)

    def recovered(self) -> None:
        self._up.set()
        with self._lock:
            if not self._down:
                return
            self._down = False
        self.log.log(logging.WARNING if self._loud else logging.DEBUG, "%s available again", self.name)
