"""Log a flaky dependency once when it fails and once when it recovers, not on every retry."""

from __future__ import annotations

import logging
import threading


class LinkState:
    """Up/down state of one dependency (broker, Redis, database) with transition-only logging."""

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self.log = logger
        self._lock = threading.Lock()
        self._down = False
        self._up = threading.Event()

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def wait_up(self, timeout: float) -> bool:
        return self._up.wait(timeout)

    def failed(self, reason: str) -> None:
        self._up.clear()
        with self._lock:
            if self._down:
                return
            self._down = True
        self.log.error("%s unavailable: %s (retrying quietly with backoff)", self.name, reason)

    def recovered(self) -> None:
        self._up.set()
        with self._lock:
            if not self._down:
                return
            self._down = False
        self.log.warning("%s available again", self.name)
