"""A track's recent foot points for line counting: smoothed, with a gate against jumps across the line.

The foot point is the median of the last few points, so a box bottom that jumps for a frame
(legs hidden behind someone, a box spanning two people) moves nothing. A jump across the line
(along its normal) further than a person walks in the frames since the last point (`max_step` box
heights per frame) is held apart instead of entering the median: if the track comes back to where it was, the held points
are dropped; if it keeps going from where it jumped to for as many frames as the median spans,
the track has been switched onto someone else (or onto a box cut off above the legs) and the
trail restarts there, so the caller learns the track's side afresh instead of counting a crossing.
On TUD-Campus a single merged box pulled a track 83 px down for a frame before the track was lost
for 16 frames; on a cropped copy a track slid onto a person further back over three frames.
Only the distance across the line is gated: a person leaving the view past a line near the frame
edge has a cut box whose bottom jumps up, but whose step across the (upright) line is still a walk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Step(Enum):
    KEPT = "kept"  # the point joined the trail
    HELD = "held"  # a jump, held apart until the next points say which way it goes
    RESTARTED = "restarted"  # the jump held: the trail now starts at the jumped-to points


@dataclass
class FootTrail:
    window: int  # points in the median
    max_step: float  # box heights per frame; 0 = no jump gate
    normal: np.ndarray  # unit normal of the line: steps are measured across it
    points: list[np.ndarray] = field(default_factory=list)
    held: list[np.ndarray] = field(default_factory=list)
    _last: tuple[int, np.ndarray, float] | None = None  # (frame, foot, height) of the trail's newest point
    _held_last: tuple[int, np.ndarray, float] | None = None

    def add(self, frame: int, foot: np.ndarray, height: float) -> Step:
        foot = np.asarray(foot, np.float64)
        if self._last is None or self.max_step <= 0 or self._follows_trail(frame, foot, height):
            self._keep(frame, foot, height)
            return Step.KEPT
        if self._held_last is not None and not self._near(self._held_last, frame, foot, height):
            self.held.clear()  # neither here nor there: start holding from this point
        self.held.append(foot)
        self._held_last = (frame, foot, height)
        if len(self.held) < self.window:
            return Step.HELD
        self.points, self.held = list(self.held), []
        self._last, self._held_last = self._held_last, None
        return Step.RESTARTED

    def smoothed(self) -> np.ndarray:
        return np.median(self.points, axis=0)

    def _keep(self, frame: int, foot: np.ndarray, height: float) -> None:
        self.held, self._held_last = [], None
        self.points.append(foot)
        del self.points[:-self.window]
        self._last = (frame, foot, height)

    def _follows_trail(self, frame: int, foot: np.ndarray, height: float) -> bool:
        """Within a walk of the trail, and (while a jump is held) nearer the trail than the held points:
        after a gap both are within a walk, and the nearer one is where the track is."""
        if not self._near(self._last, frame, foot, height):
            return False
        return self._held_last is None or self._across(self._last, foot) < self._across(self._held_last, foot)

    def _across(self, last: tuple[int, np.ndarray, float], foot: np.ndarray) -> float:
        return abs(float((foot - last[1]) @ self.normal))

    def _near(self, last: tuple[int, np.ndarray, float], frame: int, foot: np.ndarray, height: float) -> bool:
        then, _, then_h = last
        limit = self.max_step * min(height, then_h) * max(frame - then, 1)
        return self._across(last, foot) <= limit
