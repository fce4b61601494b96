"""Is the wall clock sane yet? A box without a real-time clock boots at 1970 until NTP answers.

A window stamped before that would carry a 1970 key and collide or sort wrongly in the cloud,
so the edge app waits here before it stamps anything. "Sane" means not before a floor: the
release floor below, or the newest instant this box already covered with a window (kept in the
buffer, edge_agent/resume.py), so a clock that jumps backwards after a reboot is caught too: a
clock behind within a closed window would stamp that window again and overwrite the stored one.

A floor far ahead of the clock (more than `max_lead`) is no reason to wait: it means a clock that
ran ahead once (stamping windows the cloud refused anyway), and waiting would blind the box for as
long. That is said loudly and the box goes on; `storelens sync clear-clock-floor` forgets a floor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from storelens.wire import EARLIEST_WINDOW

log = logging.getLogger(__name__)

# No storelens build existed before this instant; any earlier clock reading is wrong.
RELEASE_FLOOR = EARLIEST_WINDOW
CLEAR_COMMAND = "storelens sync clear-clock-floor"


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_sane(now: datetime, floor: datetime | None = None) -> bool:
    limit = max(RELEASE_FLOOR, floor) if floor else RELEASE_FLOOR
    return now >= limit


def floor_too_far(now: datetime, floor: datetime | None, max_lead: timedelta | None) -> bool:
    """A floor so far ahead that the clock that set it, not this one, must have been wrong."""
    return floor is not None and max_lead is not None and now >= RELEASE_FLOOR and floor - now > max_lead


def wait_until_sane(
    stop: threading.Event,
    *,
    floor: datetime | Callable[[], datetime | None] | None = None,
    now: Callable[[], datetime] = utcnow,
    poll_s: float = 5.0,
    max_lead: timedelta | None = None,
) -> bool:
    """Block until the clock is sane (True) or `stop` is set (False). Logs once, not every poll.

    `floor` may be a callable, read again on every poll, so clearing it lets stamping resume at
    once. A floor more than `max_lead` ahead never blocks (see the module docstring)."""
    floor_of = floor if callable(floor) else (lambda: floor)
    if _sane(now(), floor_of(), max_lead):
        return True
    limit = floor_of() or RELEASE_FLOOR
    if now() < RELEASE_FLOOR:
        log.warning("clock reads %s, before %s: not stamping windows until it is set (NTP?)",
                    now().isoformat(), RELEASE_FLOOR.isoformat())
    else:
        log.warning("clock reads %s, behind the newest window this box already stamped (up to %s): not stamping "
                    "windows for %.0f s, so no window is stamped twice; if the clock is right, `%s` resumes now",
                    now().isoformat(), limit.isoformat(), (limit - now()).total_seconds(), CLEAR_COMMAND)
    while not stop.wait(poll_s):
        if _sane(now(), floor_of(), max_lead):
            log.warning("clock is sane again (%s): stamping resumes", now().isoformat())
            return True
    return False


def _sane(now: datetime, floor: datetime | None, max_lead: timedelta | None) -> bool:
    return is_sane(now, floor) or floor_too_far(now, floor, max_lead)
