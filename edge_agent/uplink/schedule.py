"""Off-peak upload windows in the store's local time zone.

Ranges are 'HH:MM-HH:MM' wall-clock times; a range whose end is not after its start crosses
midnight ('22:00-06:00'), and '00:00-24:00' means always. Times are compared in the store's zone
so a daylight-saving change moves the window with the shop's clocks, not with UTC.

Splay: a chain's devices in one time zone would otherwise all connect at the same second when the
window opens. Each device starts late by a fixed offset within `splay_minutes`, drawn from a hash of
its device_id: the same on every restart and every box of the same id, evenly spread over a fleet,
and needing no coordination.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storelens.config.sync import TimeRange, parse_range


def splay_minutes_for(device_id: str, splay_minutes: float) -> float:
    """This device's fixed delay in [0, splay_minutes): sha256 of the id, not Python's salted hash()."""
    if splay_minutes <= 0:
        return 0.0
    fraction = int.from_bytes(hashlib.sha256(device_id.encode()).digest()[:8], "big") / 2**64
    return fraction * splay_minutes


class OffPeakSchedule:
    """Answers 'may we upload now?' and 'when may we next?' for a store."""

    def __init__(self, ranges: list[str], timezone: str, *, device_id: str = "", splay_minutes: float = 0.0) -> None:
        self.delay_minutes = splay_minutes_for(device_id, splay_minutes)
        self.ranges = [_delay(parse_range(r), self.delay_minutes) for r in ranges]
        self.zone = ZoneInfo(timezone)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute + local.second / 60
        return any(r.contains(minute) for r in self.ranges)

    def next_open(self, now: datetime) -> datetime:
        """`now` when open, else the UTC instant the next range starts."""
        if self.is_open(now):
            return now
        local_day = now.astimezone(self.zone).date()
        starts = []
        for offset in range(0, 3):
            day = local_day + timedelta(days=offset)
            for r in self.ranges:
                wall = datetime.combine(day, _wall_time(r.start_min), tzinfo=self.zone)
                starts.append(wall.astimezone(UTC))
        return min(s for s in starts if s > now)

    def seconds_until_open(self, now: datetime) -> float:
        return max(0.0, (self.next_open(now) - now).total_seconds())


def _delay(r: TimeRange, minutes: float) -> TimeRange:
    # Never so late that the range vanishes (the config refuses such a splay; this guards direct use).
    return r.delayed(min(minutes, r.minutes - 1 / 60))


def _wall_time(minute: float) -> time:
    seconds = round(minute * 60)
    return time(seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)
