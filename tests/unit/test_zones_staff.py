"""Zones: membership, visits with dwell and jitter grace; staff exclusion by zone and presence."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.staff import StaffFilter
from edge_agent.analytics.zones import ZoneCounter, points_in_polygon
from edge_agent.types import Detections
from storelens.config.analytics import ZoneConfig

SQUARE = [(0, 0), (100, 0), (100, 100), (0, 100)]


@pytest.mark.parametrize(
    ("point", "inside"),
    [((50, 50), True), ((0, 50), True), ((100, 100), True), ((101, 50), False), ((-5, -5), False)],
)
def test_points_in_polygon(point: tuple[float, float], inside: bool) -> None:
    assert points_in_polygon(np.array([point]), SQUARE).tolist() == [inside]


def _at(track: int, x: float, y: float, visitor: int | None = None) -> Detections:
    data = {} if visitor is None else {"visitor": np.array([visitor])}
    return Detections(xyxy=np.array([[x - 5, y - 30, x + 5, y]]), tracker_id=np.array([track]), data=data)


@pytest.mark.parametrize(
    ("name", "path", "expected_dwells"),
    [
        # (time s, foot x) samples; zone is x in [0, 100]; grace 2 s
        ("stay 10 s then leave", [(0, 50), (5, 50), (10, 50), (11, 200), (20, 200)], [10.0]),
        ("short excursion inside grace is one visit", [(0, 50), (4, 50), (5, 200), (6, 50), (12, 50), (20, 200)],
         [12.0]),
        ("long excursion makes two visits", [(0, 50), (3, 50), (4, 200), (10, 200), (11, 50), (13, 50), (20, 200)],
         [3.0, 2.0]),
        ("never inside", [(0, 200), (10, 300)], []),
    ],
)
def test_zone_visits_and_dwell(name: str, path: list[tuple[float, float]], expected_dwells: list[float]) -> None:
    counter = ZoneCounter([ZoneConfig(name="table", polygon=SQUARE)], grace_s=2.0)
    visits = []
    for t, x in path:
        visits += counter.update(_at(1, x, 50), now=t)
    visits += counter.end_all()
    assert [v.dwell_s for v in visits] == expected_dwells, name
    assert all(v.zone == "table" for v in visits)


def test_track_end_closes_its_zone_visit_only() -> None:
    counter = ZoneCounter([ZoneConfig(name="table", polygon=SQUARE)], grace_s=5.0)
    both = Detections(xyxy=np.array([[45, 20, 55, 50], [65, 20, 75, 50]]), tracker_id=np.array([1, 2]))
    counter.update(both, now=0)
    counter.update(both, now=4)
    ended = counter.end_tracks((1,))
    assert [(v.track, v.dwell_s) for v in ended] == [(1, 4.0)]
    assert [v.track for v in counter.end_all()] == [2]


@pytest.mark.parametrize(
    ("name", "path", "max_presence", "staff"),
    [
        ("customer walks past the staff door", [(0, 300), (5, 320)], None, False),
        ("enters the staff-only zone once", [(0, 300), (5, 50), (9, 300)], None, True),
        ("present longer than the limit", [(0, 300), (100, 310), (700, 300)], 600.0, True),
        ("present just under the limit", [(0, 300), (599, 300)], 600.0, False),
    ],
)
def test_staff_exclusion(name: str, path: list[tuple[float, float]], max_presence: float | None, staff: bool) -> None:
    staff_zone = ZoneConfig(name="stockroom", polygon=SQUARE, staff_only=True)
    flt = StaffFilter([staff_zone], max_presence)
    flags = [bool(flt.update(_at(3, x, 50, visitor=9), now=t).data["staff"][0]) for t, x in path]
    assert flags[-1] is staff, name
    assert (9 in flt.staff) is staff


def test_staff_flag_follows_the_track_to_its_visitor() -> None:
    """Flagged while re-ID had not yet named the visitor: the flag moves to the visitor id."""
    flt = StaffFilter([ZoneConfig(name="stockroom", polygon=SQUARE, staff_only=True)], None)
    unnamed = Detections(xyxy=np.array([[45, 20, 55, 50]]), tracker_id=np.array([4]), data={"visitor": np.array([-1])})
    assert flt.update(unnamed, now=0).data["staff"].tolist() == [True]
    named = flt.update(_at(4, 300, 50, visitor=17), now=1)
    assert named.data["staff"].tolist() == [True] and flt.staff == {17}
