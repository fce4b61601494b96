"""The line counter's foot-point trail: median smoothing and the gate against jumps across the line."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.analytics.trail import FootTrail, Step

ACROSS_Y = np.array([0.0, 1.0])  # a horizontal line: steps across it are steps in y


def _trail(points: list[tuple[int, float, float]], window: int = 3) -> tuple[FootTrail, list[Step]]:
    """(frame, foot y, box height) per point; x stays 100."""
    trail = FootTrail(window, 0.5, ACROSS_Y)
    return trail, [trail.add(f, np.array([100.0, y]), h) for f, y, h in points]


def test_walking_steps_are_kept_and_smoothed() -> None:
    trail, steps = _trail([(1, 300, 100), (2, 320, 100), (3, 340, 100), (4, 360, 100)])
    assert steps == [Step.KEPT] * 4
    assert trail.smoothed()[1] == 340  # median of the last three


def test_a_one_frame_glitch_is_held_and_dropped() -> None:
    """TUD-Campus: a merged box pulled a track 83 px for one frame, then the track was lost for 16 frames."""
    trail, steps = _trail([(1, 352, 150), (2, 352, 150), (3, 435, 240), (19, 351, 160)])
    assert steps == [Step.KEPT, Step.KEPT, Step.HELD, Step.KEPT]
    assert trail.smoothed()[1] == 352 and not trail.held


def test_a_jump_that_holds_restarts_the_trail() -> None:
    """A derived TUD crop: a track slid onto someone further back, its foot 99 px up, then further on."""
    trail, steps = _trail([(1, 416, 263), (2, 406, 263), (3, 307, 167), (4, 286, 96), (5, 255, 90)])
    assert steps == [Step.KEPT, Step.KEPT, Step.HELD, Step.HELD, Step.RESTARTED]
    assert trail.smoothed()[1] == 286


def test_steps_along_the_line_are_not_jumps() -> None:
    trail = FootTrail(3, 0.5, ACROSS_Y)
    assert [trail.add(f, np.array([x, 300.0]), 100) for f, x in enumerate([100, 250, 400], start=1)] == [Step.KEPT] * 3


@pytest.mark.parametrize(("gap", "step"), [(1, Step.HELD), (4, Step.KEPT)])
def test_the_limit_grows_with_frames_unseen(gap: int, step: Step) -> None:
    """80 px across with 100 px boxes: too far for one frame (limit 50), a walk over four (limit 200)."""
    _, steps = _trail([(1, 300, 100), (1 + gap, 380, 100)])
    assert steps[-1] is step


def test_gate_off_keeps_everything() -> None:
    trail = FootTrail(3, 0.0, ACROSS_Y)
    assert [trail.add(f, np.array([100.0, y]), 50) for f, y in [(1, 0.0), (2, 500.0)]] == [Step.KEPT, Step.KEPT]
