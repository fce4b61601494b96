"""SIGTERM/SIGINT -> a threading.Event, so long-lived services stop cleanly (and flush)."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    """An Event set by SIGTERM or SIGINT; call from the main thread of a service command."""
    stop = threading.Event()

    def _handler(signum, _frame) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop
