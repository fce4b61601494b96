"""Entrance line counting with direction and hysteresis.

supervision's LineZone was considered: it decides sides from box anchors and only offers a
frame-count threshold against jitter, so a person who stands on the line and sways can still
flip it. Here a track's side changes only once its foot point is `band_px` clear of the line,
and only when it is beside the segment (not walking around its end).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edge_agent.types import Detections
from storelens.config.analytics import LineConfig

log = logging.getLogger(__name__)

END_MARGIN = 0.1  # crossings within 10% of the line length beyond either end still count


@dataclass(frozen=True)
class Crossing:
    track: int
    direction: str  # "in" or "out"
    point: tuple[float, float]  # foot point in image pixels when the crossing was confirmed


class LineCounter:
    """`update(tracks) -> list[Crossing]`; `entries`, `exits` and `inside` (entries - exits) so far."""

    def __init__(self, cfg: LineConfig) -> None:
        self.cfg = cfg
        self._a = np.asarray(cfg.start, np.float64)
        ab = np.asarray(cfg.end, np.float64) - self._a
        self._length = float(np.linalg.norm(ab))
        self._dir = ab / self._length
        self._in_sign = 1 if cfg.in_side == "right" else -1
        self._side: dict[int, int] = {}
        self.entries = 0
        self.exits = 0

    @property
    def inside(self) -> int:
        return self.entries - self.exits

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Pixels from the line; positive on the right looking from start to end (image y points down)."""
        rel = np.asarray(points, np.float64).reshape(-1, 2) - self._a
        return self._dir[0] * rel[:, 1] - self._dir[1] * rel[:, 0]

    def _beside(self, points: np.ndarray) -> np.ndarray:
        t = ((np.asarray(points, np.float64).reshape(-1, 2) - self._a) @ self._dir) / self._length
        return (t >= -END_MARGIN) & (t <= 1 + END_MARGIN)

    def update(self, tracks: Detections) -> list[Crossing]:
        if tracks.tracker_id is None or len(tracks) == 0:
            return []
        feet = tracks.foot_points
        dist, beside = self.signed_distance(feet), self._beside(feet)
        crossings = []
        for track, d, ok, foot in zip(tracks.tracker_id.tolist(), dist, beside, feet, strict=True):
            if abs(d) < self.cfg.band_px:
                continue  # on the line: keep the last confirmed side
            side = 1 if d > 0 else -1
            before = self._side.get(track)
            self._side[track] = side
            if before is None or before == side or not ok:
                continue
            crossings.append(self._count(track, side, foot))
        return crossings

    def _count(self, track: int, side: int, foot: np.ndarray) -> Crossing:
        direction = "in" if side == self._in_sign else "out"
        if direction == "in":
            self.entries += 1
        else:
            self.exits += 1
        log.debug("line %s: track %d %s", self.cfg.name, track, direction)
        return Crossing(track, direction, (float(foot[0]), float(foot[1])))

    def forget(self, track_ids: tuple[int, ...]) -> None:
        for t in track_ids:
            self._side.pop(t, None)
