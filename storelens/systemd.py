"""systemd service notifications (Type=notify): READY, STATUS, STOPPING and the watchdog.

The protocol is one datagram of `KEY=value` lines to the socket named by $NOTIFY_SOCKET (a path,
or `@name` for Linux's abstract namespace); see sd_notify(3). Written here rather than pulled in:
it is a dozen lines, and the Python bindings need libsystemd headers to build. Outside systemd
($NOTIFY_SOCKET unset) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def notify(*fields: str) -> bool:
    """Send `fields` ('READY=1', 'STATUS=...') to systemd; False when not run under a notify unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """WatchdogSec= of our unit in seconds, or None when no watchdog is armed for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec) / 1e6
    except ValueError:
        return None
    return value if value > 0 else None


class Watchdog:
    """Feeds systemd's watchdog every half interval for as long as `alive()` says the service works.

    A service whose loop is hung must not be kept alive by a timer thread that merely runs, so
    the pings depend on `alive()`; once it fails, pings stop and systemd restarts the unit.
    """

    def __init__(self, alive: Callable[[], bool], interval_s: float | None = None) -> None:
        self.alive = alive
        self.interval_s = interval_s if interval_s is not None else watchdog_interval_s()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0

    def start(self) -> Watchdog:
        if self.interval_s and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        starved = False
        while not self._stop.wait(self.interval_s / 2):
            if self._healthy():
                self.pings += notify("WATCHDOG=1")
                starved = False
            elif not starved:
                log.error("service loop not responding: no longer feeding the systemd watchdog (restart follows)")
                starved = True

    def _healthy(self) -> bool:
        try:
            return bool(self.alive())
        except Exception:  # a broken check must starve the watchdog, not kill its thread
            log.exception("liveness check failed")
            return False
