"""Entrance line: direction, hysteresis against lingering and jitter, segment extent."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.line import LineCounter
from edge_agent.types import Detections
from storelens.config.analytics import LineConfig

# Vertical line x = 100 from y = 0 to y = 200, drawn downwards; "left" of it looking down is the
# screen's right (x > 100), configured as inside.
LINE = LineConfig(name="door", start=(100, 0), end=(100, 200), in_side="left", band_px=10)


def _feet(track: int, x: float, y: float = 100) -> Detections:
    """A 20x60 person box whose foot point is (x, y)."""
    return Detections(xyxy=np.array([[x - 10, y - 60, x + 10, y]]), tracker_id=np.array([track]))


def _run(xs: list[float], y: float = 100, cfg: LineConfig = LINE) -> tuple[int, int]:
    counter = LineCounter(cfg)
    for x in xs:
        counter.update(_feet(1, x, y))
    return counter.entries, counter.exits


@pytest.mark.parametrize(
    ("name", "xs", "expected"),
    [
        ("walk in", [50, 70, 90, 110, 130, 150], (1, 0)),
        ("walk out", [150, 120, 100, 80, 50], (0, 1)),
        ("in then out again", [50, 150, 50], (1, 1)),
        ("linger on the line", [50, 95, 105, 97, 108, 92, 103, 50], (0, 0)),
        ("jitter across the line centre, then in", [50, 99, 101, 99, 101, 99, 140], (1, 0)),
        ("stop inside the band on the far side", [50, 105, 109, 108], (0, 0)),
        ("born inside the band, leave inwards", [104, 150], (0, 0)),
        ("born outside, stays outside", [20, 40, 60, 80], (0, 0)),
        ("many jittery passes count each full pass", [50, 150, 50, 150], (2, 1)),
    ],
)
def test_line_crossing_cases(name: str, xs: list[float], expected: tuple[int, int]) -> None:
    assert _run(xs) == expected, name


@pytest.mark.parametrize(
    ("y", "expected"),
    [(100, (1, 0)), (205, (1, 0)), (260, (0, 0)), (-40, (0, 0))],  # beside the segment, just past, far past
)
def test_only_crossings_beside_the_segment_count(y: float, expected: tuple[int, int]) -> None:
    assert _run([50, 150], y=y) == expected


def test_in_side_right_swaps_direction() -> None:
    cfg = LINE.model_copy(update={"in_side": "right"})
    assert _run([50, 150], cfg=cfg) == (0, 1)


def test_tracks_are_independent_and_inside_is_entries_minus_exits() -> None:
    counter = LineCounter(LINE)
    counter.update(Detections(xyxy=np.array([[40, 40, 60, 100], [140, 40, 160, 100]]), tracker_id=np.array([1, 2])))
    crossings = counter.update(
        Detections(xyxy=np.array([[140, 40, 160, 100], [40, 40, 60, 100]]), tracker_id=np.array([1, 2]))
    )
    assert sorted((c.track, c.direction) for c in crossings) == [(1, "in"), (2, "out")]
    assert (counter.entries, counter.exits, counter.inside) == (1, 1, 0)


def test_forgotten_track_starts_fresh() -> None:
    counter = LineCounter(LINE)
    counter.update(_feet(7, 50))
    counter.forget((7,))
    counter.update(_feet(7, 150))  # a new track reusing the id must not count as crossing
    assert counter.entries == 0
