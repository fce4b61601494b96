"""Today so far, and the same hours of the same weekday a week earlier, in the store's own time.

Data arrives in windows, so "so far" reaches the end of the newest window stored today; the week
before is cut at the same wall-clock time (a DST change in between moves the UTC bounds, not the
hours compared).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from dashboard import data
from dashboard.auth import Principal


def today_periods(tz: str, now: datetime, reach: datetime | None) -> tuple[data.Period, data.Period]:
    """(today from local midnight to `reach` (the newest window's end) or, with no window yet, now; the
    same weekday last week up to the same wall-clock time)."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    midnight = datetime.combine(local_now.date(), time.min, zone)
    cutoff = reach if reach is not None and reach > midnight else now  # today counts up to its newest window
    elapsed = cutoff.astimezone(zone).replace(tzinfo=None) - midnight.replace(tzinfo=None)  # wall clock
    week_midnight = datetime.combine(local_now.date() - timedelta(days=7), time.min)
    week_cutoff = (week_midnight + elapsed).replace(tzinfo=zone)
    today = data.Period(midnight.astimezone(UTC), max(cutoff, midnight).astimezone(UTC))
    return today, data.Period(week_midnight.replace(tzinfo=zone).astimezone(UTC), week_cutoff.astimezone(UTC))


@dataclass(frozen=True)
class Today:
    today: data.SoFar
    last_week: data.SoFar
    occupancy: data.Occupancy
    reach: datetime | None  # end of the newest window stored today (None: nothing yet)


def today_so_far(engine: Engine, principal: Principal, store_id: str, tz: str, *, now: datetime | None = None,
                 seeded: bool = True) -> Today:
    """Four small SQL aggregates, cheap enough for a page that polls every minute."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date()
    whole_day = data.Period.local_days(day, day, tz)  # 23 to 25 hours on a DST day
    reach = data.newest_end(engine, principal, store_id, whole_day, seeded=seeded)
    today, last_week = today_periods(tz, now, reach)
    counted = whole_day  # every window started today, however far it reaches
    return Today(data.so_far(engine, principal, store_id, counted, seeded=seeded),
                 data.so_far(engine, principal, store_id, last_week, seeded=seeded),
                 data.occupancy(engine, principal, store_id, counted, seeded=seeded), reach)
