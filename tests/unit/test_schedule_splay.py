"""Per-device splay of the off-peak start: deterministic, spread over the fleet, inside the range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge_agent.uplink.schedule import OffPeakSchedule, splay_minutes_for
from storelens.config import StorelensConfig, parse_config
from storelens.errors import ConfigError

PARIS = ZoneInfo("Europe/Paris")


def test_the_same_device_always_gets_the_same_delay() -> None:
    assert splay_minutes_for("edge-0042", 30) == splay_minutes_for("edge-0042", 30)
    assert splay_minutes_for("edge-0042", 30) != splay_minutes_for("edge-0043", 30)
    assert splay_minutes_for("edge-0042", 0) == 0.0


def test_a_fleet_is_spread_evenly_over_the_splay() -> None:
    delays = [splay_minutes_for(f"store-{i:04d}-edge", 30) for i in range(2000)]
    assert all(0 <= d < 30 for d in delays)
    buckets = [sum(3 * k <= d < 3 * (k + 1) for d in delays) for k in range(10)]
    assert min(buckets) > 150 and max(buckets) < 250, buckets  # ~200 each
    starts_same_second = max(sum(int(d * 60) == s for d in delays) for s in range(1800))
    assert starts_same_second <= 6  # versus 2000 at 22:00:00 without splay


def _device_with_delay_between(low: float, high: float) -> str:
    return next(f"edge-{i}" for i in range(10_000) if low <= splay_minutes_for(f"edge-{i}", 30) < high)


def test_a_device_opens_its_window_late_by_its_delay_and_closes_on_time() -> None:
    device = _device_with_delay_between(17, 18)
    schedule = OffPeakSchedule(["22:00-06:00"], "Europe/Paris", device_id=device, splay_minutes=30)
    day = datetime(2026, 3, 10, tzinfo=PARIS)
    assert not schedule.is_open(day.replace(hour=22, minute=5))
    assert schedule.is_open(day.replace(hour=22, minute=18))
    assert schedule.is_open(day.replace(hour=5, minute=59)) and not schedule.is_open(day.replace(hour=6))
    opens = schedule.next_open(day.replace(hour=21).astimezone(UTC)).astimezone(PARIS)
    assert opens.date() == day.date() and opens.hour == 22 and opens.minute == 17
    assert abs((opens - day.replace(hour=22)).total_seconds() / 60 - schedule.delay_minutes) < 1 / 60


def test_a_delay_that_passes_midnight_still_opens_and_closes() -> None:
    device = _device_with_delay_between(25, 26)
    schedule = OffPeakSchedule(["23:40-01:00"], "UTC", device_id=device, splay_minutes=30)
    day = datetime(2026, 5, 1, tzinfo=UTC)
    assert not schedule.is_open(day.replace(hour=23, minute=50))
    assert schedule.is_open(day + timedelta(days=1, minutes=6)) and not schedule.is_open(day + timedelta(days=1, hours=1))
    opens = schedule.next_open(day.replace(hour=23, minute=45))
    assert (opens.day, opens.hour, opens.minute) == (2, 0, 5)  # 23:40 + 25.x min, on the next day


def test_always_open_is_not_delayed() -> None:
    schedule = OffPeakSchedule(["00:00-24:00"], "UTC", device_id="edge-1", splay_minutes=30)
    assert schedule.is_open(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))


def test_the_splay_moves_with_the_shop_clock_over_daylight_saving() -> None:
    device = _device_with_delay_between(10, 11)
    schedule = OffPeakSchedule(["22:00-06:00"], "Europe/Paris", device_id=device, splay_minutes=30)
    for day in (datetime(2026, 3, 28, 12, tzinfo=PARIS), datetime(2026, 3, 29, 12, tzinfo=PARIS)):  # DST on the 29th
        opens = schedule.next_open(day.astimezone(UTC)).astimezone(PARIS)
        assert (opens.hour, opens.minute) == (22, 10)


@pytest.mark.parametrize(("offpeak", "splay", "ok"), [
    (["22:00-06:00"], 30, True), (["23:50-00:10"], 15, True), (["23:50-00:10"], 20, False),
    (["12:00-12:30", "22:00-06:00"], 45, False), (["00:00-24:00"], 720, True)])
def test_config_refuses_a_splay_longer_than_a_range(offpeak, splay, ok) -> None:
    raw = {"sync": {"offpeak": offpeak, "offpeak_splay_minutes": splay}}
    if ok:
        assert parse_config(raw).sync.offpeak_splay_minutes == splay
    else:
        with pytest.raises(ConfigError, match="does not fit in the off-peak range"):
            parse_config(raw)


def test_the_sync_service_uses_the_device_splay() -> None:
    from edge_agent.uplink.service import offpeak_schedule

    cfg = StorelensConfig(device_id="edge-0042")
    assert offpeak_schedule(cfg).delay_minutes == splay_minutes_for("edge-0042", cfg.sync.offpeak_splay_minutes) > 0
