"""Off-peak upload windows in the store's local time zone.

Ranges are 'HH:MM-HH:MM' wall-clock times; a range whose end is not after its start crosses
midnight ('22:00-06:00'), and '00:00-24:00' means always. Times are compared in the store's zone
so a daylight-saving change moves the window with the shop's clocks, not with UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storelens.config.sync import parse_range


class OffPeakSchedule:
    """Answers 'may we upload now?' and 'when may we next?' for a store."""

    def __init__(self, ranges: list[str], timezone: str) -> None:
        self.ranges = [parse_range(r) for r in ranges]
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
                wall = datetime.combine(day, time(r.start_min // 60, r.start_min % 60), tzinfo=self.zone)
                starts.append(wall.astimezone(UTC))
        return min(s for s in starts if s > now)

    def seconds_until_open(self, now: datetime) -> float:
        return max(0.0, (self.next_open(now) - now).total_seconds())
