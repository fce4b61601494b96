"""Is the wall clock sane yet? A box without a real-time clock boots at 1970 until NTP answers.

A window stamped before that would carry a 1970 key and collide or sort wrongly in the cloud,
so the edge app waits here before it stamps anything. "Sane" means not before a floor: the
release floor below, or the newest time this box has already written (kept in the buffer), so
a clock that jumps backwards after a reboot is caught too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger(__name__)

# No storelens build existed before this instant; any earlier clock reading is wrong.
RELEASE_FLOOR = datetime(2025, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_sane(now: datetime, floor: datetime | None = None) -> bool:
    limit = max(RELEASE_FLOOR, floor) if floor else RELEASE_FLOOR
    return now >= limit


def wait_until_sane(
    stop: threading.Event,
    *,
    floor: datetime | None = None,
    now: Callable[[], datetime] = utcnow,
    poll_s: float = 5.0,
) -> bool:
    """Block until the clock is sane (True) or `stop` is set (False). Logs once, not every poll."""
    if is_sane(now(), floor):
        return True
    log.warning("clock reads %s, before %s: not stamping windows until it is set (NTP?)",
                now().isoformat(), (floor or RELEASE_FLOOR).isoformat())
    while not stop.wait(poll_s):
        if is_sane(now(), floor):
            log.warning("clock is sane again (%s): stamping resumes", now().isoformat())
            return True
    return False
