"""Zones: which polygon each person's foot point is in, and zone visits with their dwell time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.types import Detections
from storelens.config.analytics import ZoneConfig

log = logging.getLogger(__name__)


def points_in_polygon(points: np.ndarray, polygon: list[tuple[float, float]]) -> np.ndarray:
    """(N,) bool: point inside or on the edge of the polygon."""
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points], bool)


@dataclass(frozen=True)
class ZoneVisit:
    zone: str
    track: int
    dwell_s: float


@dataclass
class _Open:
    since: float
    last_inside: float


class ZoneCounter:
    """`update(tracks, now) -> finished ZoneVisits`; a visit survives `grace_s` outside (jitter, occlusion)."""

    def __init__(self, zones: list[ZoneConfig], grace_s: float) -> None:
        self._zones = zones
        self._grace_s = grace_s
        self._open: dict[tuple[str, int], _Open] = {}

    def membership(self, tracks: Detections) -> dict[str, np.ndarray]:
        feet = tracks.foot_points
        return {z.name: points_in_polygon(feet, z.polygon) for z in self._zones}

    def update(self, tracks: Detections, now: float) -> list[ZoneVisit]:
        ids = [] if tracks.tracker_id is None else tracks.tracker_id.tolist()
        for zone, inside in self.membership(tracks).items():
            for track in np.asarray(ids)[inside].tolist():
                visit = self._open.setdefault((zone, track), _Open(now, now))
                visit.last_inside = now
        stale = [key for key, v in self._open.items() if now - v.last_inside > self._grace_s]
        return [self._finish(key) for key in stale]

    def end_tracks(self, track_ids: tuple[int, ...]) -> list[ZoneVisit]:
        ended = set(track_ids)
        return [self._finish(key) for key in list(self._open) if key[1] in ended]

    def end_all(self) -> list[ZoneVisit]:
        return [self._finish(key) for key in list(self._open)]

    def _finish(self, key: tuple[str, int]) -> ZoneVisit:
        visit = self._open.pop(key)
        return ZoneVisit(key[0], key[1], visit.last_inside - visit.since)
