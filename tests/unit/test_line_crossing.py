"""Entrance line: direction, hysteresis against lingering and jitter, segment extent."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.line import LineCounter
from edge_agent.types import Detections
from storelens.config.analytics import LineConfig

# Vertical line x = 100 from y = 0 to y = 200, drawn downwards; "left" of it looking down is the
# screen's right (x > 100), configured as inside.
LINE = LineConfig(name="door", start=(100, 0), end=(100, 200), in_side="left", band_px=10, smoothing_frames=1)
SMOOTHED = LINE.model_copy(update={"smoothing_frames": 3})


def _feet(track: int, x: float, y: float = 100, height: float = 300) -> Detections:
    """A 20 px wide person box whose foot point is (x, y); 300 px tall, so that the steps of up to 100 px per
    frame below are walks to the jump gate (max_step_heights)."""
    return Detections(xyxy=np.array([[x - 10, y - height, x + 10, y]]), tracker_id=np.array([track]))


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
    counter.update(Detections(xyxy=np.array([[40, -200, 60, 100], [140, -200, 160, 100]]), tracker_id=np.array([1, 2])))
    crossings = counter.update(
        Detections(xyxy=np.array([[140, -200, 160, 100], [40, -200, 60, 100]]), tracker_id=np.array([1, 2]))
    )
    assert sorted((c.track, c.direction) for c in crossings) == [(1, "in"), (2, "out")]
    assert (counter.entries, counter.exits, counter.inside) == (1, 1, 0)


def test_forgotten_track_starts_fresh() -> None:
    counter = LineCounter(LINE)
    counter.update(_feet(7, 50))
    counter.forget((7,))
    counter.update(_feet(7, 150))  # a new track reusing the id must not count as crossing
    assert counter.entries == 0


@pytest.mark.parametrize(
    ("name", "xs", "expected"),
    [
        ("walk in", [50, 70, 90, 110, 130, 150], (1, 0)),
        ("walk out", [150, 130, 110, 90, 70, 50], (0, 1)),
        ("a one-frame jump across and back counts nothing", [50, 55, 150, 60, 65, 70], (0, 0)),
        ("two one-frame jumps apart count nothing", [50, 150, 55, 60, 150, 65], (0, 0)),
        ("a step across that stays counts once", [50, 55, 150, 150, 150], (1, 0)),
        ("jumps to and fro while lingering by the line", [50, 85, 115, 85, 85, 115, 85, 50], (0, 0)),
    ],
)
def test_median_foot_point_ignores_one_frame_jumps(name: str, xs: list[float], expected: tuple[int, int]) -> None:
    assert _run(xs, cfg=SMOOTHED) == expected, name
    if expected == (0, 0) and "jump" in name:
        assert _run(xs, cfg=LINE) != (0, 0), f"{name}: without smoothing the jump would count"


def _run_beside_someone(xs: list[float], cfg: LineConfig = LINE, height: float = 300,
                        y: list[float] | None = None) -> tuple[int, int]:
    """Track 1 at `xs` (from the second frame on); track 2 stands far away from the first frame, so track 1 is not
    one of the people already in view when counting began."""
    counter = LineCounter(cfg)
    counter.update(_feet(2, 20))
    for k, x in enumerate(xs):
        one, other = _feet(1, x, 100 if y is None else y[k], height), _feet(2, 20)
        counter.update(Detections(xyxy=np.concatenate([one.xyxy, other.xyxy]), tracker_id=np.array([1, 2])))
    return counter.entries, counter.exits


@pytest.mark.parametrize(
    ("name", "xs", "expected"),
    [
        ("reappears mid-band, walks out inwards", [102, 106, 111, 116], (1, 0)),
        ("reappears mid-band, walks out outwards", [98, 94, 89, 84], (0, 1)),
        ("reappears at the band's edge: may have just crossed, counts nothing", [108, 112, 116], (0, 0)),
        ("lingers in the band, then leaves", [101] * 20 + [106, 112], (0, 0)),
        ("reappears mid-band, then turns back", [102, 106, 111, 116, 104, 95, 88], (1, 1)),
    ],
)
def test_a_track_reappearing_on_the_line(name: str, xs: list[float], expected: tuple[int, int]) -> None:
    assert _run_beside_someone(xs) == expected, name


def test_reappearing_rule_can_be_switched_off() -> None:
    assert _run_beside_someone([102, 106, 111, 116], LINE.model_copy(update={"reappear_frames": 0})) == (0, 0)


def test_someone_already_on_the_line_when_counting_starts_counts_nothing() -> None:
    assert _run([102, 106, 111, 116]) == (0, 0)


def test_a_track_walking_along_the_line_counts_nothing_when_it_drifts_off() -> None:
    """Born mid-band but moving along the line: leaving the band sideways is no crossing."""
    ys = [100, 80, 60, 40]
    assert _run_beside_someone([103, 106, 109, 112], y=ys) == (0, 0)


@pytest.mark.parametrize(
    ("name", "xs", "expected"),
    [
        ("a walk across in 20 px steps counts", [40, 60, 80, 100, 120, 140, 160], (1, 0)),
        ("one jump across and back counts nothing", [40, 45, 160, 50, 55], (0, 0)),
        ("a switch onto someone across the line that holds counts nothing", [40, 45, 160, 165, 170, 175], (0, 0)),
        ("after a switch, a real walk back across counts", [40, 45, 160, 165, 170, 150, 130, 110, 90, 70], (0, 1)),
    ],
)
def test_jumps_further_than_a_walk_are_not_crossings(name: str, xs: list[float], expected: tuple[int, int]) -> None:
    """60 px tall boxes: at most 30 px across the line per frame is a walk (max_step_heights 0.5)."""
    counter = LineCounter(SMOOTHED)
    for x in xs:
        counter.update(_feet(1, x, height=60))
    assert (counter.entries, counter.exits) == expected, name


def test_a_switched_track_does_not_use_its_visitors_remembered_side() -> None:
    """A track switched onto a person on the other side carries the first person's visitor id: that id's side is
    the other person's, not this one's, so it must not count a crossing."""
    counter = LineCounter(SMOOTHED)
    for x in [40, 45, 160, 165, 170, 175]:
        counter.update(_feet(1, x, height=60).with_data(visitor=np.array([7])))
    assert (counter.entries, counter.exits) == (0, 0)


def test_without_the_jump_gate_a_switch_counts() -> None:
    counter = LineCounter(SMOOTHED.model_copy(update={"max_step_heights": 0}))
    for x in [40, 45, 160, 165, 170, 175]:
        counter.update(_feet(1, x, height=60))
    assert (counter.entries, counter.exits) == (1, 0)  # what the gate prevents in the test above
