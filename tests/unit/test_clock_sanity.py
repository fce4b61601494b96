"""No window is stamped while the clock reads 1970 (a box without RTC before NTP answers)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.clock import RELEASE_FLOOR, is_sane, wait_until_sane

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "floor", "sane"),
    [
        (EPOCH, None, False),
        (RELEASE_FLOOR - timedelta(seconds=1), None, False),
        (RELEASE_FLOOR, None, True),
        (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), False),  # went backwards
        (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), True),
    ],
)
def test_is_sane(now, floor, sane) -> None:
    assert is_sane(now, floor) is sane


def test_waits_until_ntp_sets_the_clock_and_logs_twice_only(caplog) -> None:
    readings = iter([EPOCH] * 6 + [datetime(2026, 4, 1, tzinfo=UTC)] * 3)
    with caplog.at_level(logging.WARNING, logger="edge_agent.clock"):
        assert wait_until_sane(threading.Event(), now=lambda: next(readings), poll_s=0.001) is True
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "1970-01-01" in lines[0] and "not stamping" in lines[0]
    assert "sane again" in lines[1]


def test_stop_while_waiting_returns_false() -> None:
    stop = threading.Event()
    stop.set()
    assert wait_until_sane(stop, now=lambda: EPOCH, poll_s=0.001) is False
