"""Off-peak windows in the store's local time: several ranges, midnight crossing, DST, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge_agent.uplink.schedule import OffPeakSchedule, parse_range
from storelens.config import parse_config
from storelens.errors import ConfigError

NIGHT_AND_LUNCH = ["22:30-06:00", "12:00-13:30"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("ranges", "zone", "now_utc", "is_open", "next_open_utc"),
    [
        # Paris in winter is UTC+1: 22:30 local = 21:30 UTC
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-01-15T21:29:00", False, "2026-01-15T21:30:00"),
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-01-15T21:30:00", True, "2026-01-15T21:30:00"),
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-01-16T02:00:00", True, "2026-01-16T02:00:00"),  # after midnight
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-01-16T05:00:00", False, "2026-01-16T11:00:00"),  # 06:00 local: closed
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-01-16T11:15:00", True, "2026-01-16T11:15:00"),  # lunch range
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-01-16T12:30:00", False, "2026-01-16T21:30:00"),  # 13:30 local
        # Paris in summer is UTC+2: the window follows the shop's clocks, not UTC
        (NIGHT_AND_LUNCH, "Europe/Paris", "2026-07-15T20:45:00", True, "2026-07-15T20:45:00"),
        (["01:00-05:00"], "America/New_York", "2026-03-08T04:00:00", False, "2026-03-08T06:00:00"),  # 23:00 EST
        (["01:00-05:00"], "America/New_York", "2026-03-08T07:00:00", True, "2026-03-08T07:00:00"),  # 03:00 EDT
        (["00:00-24:00"], "Asia/Tokyo", "2026-05-05T12:00:00", True, "2026-05-05T12:00:00"),
        (["23:00-01:00", "02:00-03:00"], "UTC", "2026-05-05T01:30:00", False, "2026-05-05T02:00:00"),
    ],
)
def test_open_and_next_open(ranges, zone, now_utc, is_open, next_open_utc) -> None:
    schedule = OffPeakSchedule(ranges, zone)
    assert schedule.is_open(utc(now_utc)) is is_open
    assert schedule.next_open(utc(now_utc)) == utc(next_open_utc)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("22:00", "is not 'HH:MM-HH:MM'"), ("25:00-06:00", "impossible time"), ("10:00-10:00", "is empty"),
     ("10:61-11:00", "impossible time"), ("09:00-24:30", "impossible time"), ("9:00-10:00", "is not")],
)
def test_bad_ranges_name_the_text(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as err:
        parse_range(text)
    assert repr(text) in str(err.value)


def test_config_refuses_a_bad_range_with_its_key_path() -> None:
    with pytest.raises(ConfigError, match=r"sync.offpeak: value=\['22:00-06:00', '7pm'\]"):
        parse_config({"sync": {"offpeak": ["22:00-06:00", "7pm"]}}, "box.yaml")


def test_seconds_until_open_is_zero_inside_and_positive_outside() -> None:
    schedule = OffPeakSchedule(["22:00-06:00"], "UTC")
    assert schedule.seconds_until_open(utc("2026-02-01T23:00:00")) == 0
    assert schedule.seconds_until_open(utc("2026-02-01T21:00:00")) == 3600
