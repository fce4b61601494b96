"""Windowing: clock-aligned windows, empty windows across gaps, gap seconds, dwell bins, wire fields."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.aggregate import Windower, dwell_bin, window_start
from storelens.wire import DWELL_EDGES_S, window_from_payload

T0 = datetime(2024, 5, 1, 9, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "minutes", "expected"),
    [
        (T0, 15, datetime(2024, 5, 1, 9, 0, tzinfo=UTC)),
        (T0, 5, datetime(2024, 5, 1, 9, 5, tzinfo=UTC)),
        (datetime(2024, 5, 1, 9, 15, tzinfo=UTC), 15, datetime(2024, 5, 1, 9, 15, tzinfo=UTC)),
        (datetime(2024, 5, 1, 11, 15, tzinfo=datetime.now().astimezone().tzinfo), 60, None),
    ],
)
def test_window_start(ts: datetime, minutes: int, expected: datetime | None) -> None:
    start = window_start(ts, minutes)
    assert start.tzinfo is not None and start <= ts < start + timedelta(minutes=minutes)
    if expected is not None:
        assert start == expected


@pytest.mark.parametrize(
    ("dwell", "index"), [(0, 0), (9.9, 0), (10, 1), (59, 2), (60, 3), (899, 6), (3600, 9), (99_999, 9)]
)
def test_dwell_bins(dwell: float, index: int) -> None:
    assert dwell_bin(dwell) == index
    assert DWELL_EDGES_S[index] <= dwell


@pytest.mark.parametrize(
    ("offsets_min", "closed_starts_min"),
    [
        ([0, 1, 7], []),  # all within 09:00-09:15
        ([0, 8, 16], [0]),  # crossing into 09:15 closes 09:00
        ([0, 50], [0, 15, 30]),  # a long silence closes the empty windows in between too
    ],
)
def test_windower_closes_windows_in_order(offsets_min: list[int], closed_starts_min: list[int]) -> None:
    windower = Windower(15)
    closed = []
    for m in offsets_min:
        closed += windower.advance(T0 + timedelta(minutes=m))
    base = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert [w.start for w in closed] == [base + timedelta(minutes=m) for m in closed_starts_min]
    assert all(w.end - w.start == timedelta(minutes=15) for w in closed)


def test_gap_seconds_are_spread_over_the_windows_they_cover() -> None:
    windower = Windower(15)
    windower.advance(datetime(2024, 5, 1, 9, 10, tzinfo=UTC))
    now = datetime(2024, 5, 1, 9, 20, tzinfo=UTC)
    closed = windower.advance(now)
    windower.add_gap(datetime(2024, 5, 1, 9, 12, tzinfo=UTC), now, closed)  # 3 min before 09:15, 5 after
    assert closed[0].gap_s == 180 and windower.current.gap_s == 300


def test_built_window_is_valid_wire_json_without_identities() -> None:
    windower = Windower(15)
    windower.advance(T0)
    w = windower.current
    w.counts.update(frames=100, entries=3, exits=1, occupancy_max=2)
    w.add("unique_visitors", 2)  # counted when decided; their visits close below
    w.add_closed_visit(45.0, 34.6)
    w.add_closed_visit(5.0, float("nan"))
    w.zone_dwell["table"] = [10.0, 20.0]
    w.add_heat(Counter({(1, 2): 4}), {"31-35": Counter({(1, 2): 1})})
    msg = w.build(("s1", "d1", "cam1"), 7, (0.5, 20, 10), {"persons": "yolox_nano:695e750a"})
    again = window_from_payload(msg.to_json())
    assert again == msg
    assert (again.unique_visitors, again.visitors_with_age, again.seq) == (2, 1, 7)
    assert again.age_histogram[34] == 1 and sum(again.age_histogram) == 1
    assert again.dwell_seconds_histogram.counts[2] == 1 and again.dwell_seconds_histogram.counts[0] == 1
    assert again.zone_visits["table"].visits == 2 and again.zone_visits["table"].mean_dwell_s == 15.0
    assert again.heatmap.cells == [[1, 2, 4]] and again.heatmap.by_band == {"31-35": [[1, 2, 1]]}
    text = msg.to_json().decode()
    assert "track" not in text and "visitor\"" not in text and "embedding" not in text
