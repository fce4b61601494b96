"""Staff exclusion: anyone seen in a staff-only zone, or present longer than a limit, is staff."""

from __future__ import annotations

import logging

import numpy as np

from edge_agent.analytics.zones import points_in_polygon
from edge_agent.types import Detections
from storelens.config.analytics import ZoneConfig

log = logging.getLogger(__name__)


class StaffFilter:
    """`update(tracks, now) -> tracks` with data["staff"] (bool); the flag sticks to the visitor."""

    def __init__(self, zones: list[ZoneConfig], max_presence_s: float | None) -> None:
        self._zones = [z for z in zones if z.staff_only]
        self._max_presence_s = max_presence_s
        self._first_seen: dict[int, float] = {}
        self.staff: set[int] = set()

    def update(self, tracks: Detections, now: float) -> Detections:
        visitors = self._keys(tracks)
        self._carry_over(tracks)
        feet = tracks.foot_points
        in_staff_zone = np.zeros(len(tracks), bool)
        for zone in self._zones:
            in_staff_zone |= points_in_polygon(feet, zone.polygon)
        for key, flagged in zip(visitors, in_staff_zone, strict=True):
            first = self._first_seen.setdefault(key, now)
            too_long = self._max_presence_s is not None and now - first > self._max_presence_s
            if (flagged or too_long) and key not in self.staff:
                log.debug("visitor %s treated as staff (%s)", key, "staff zone" if flagged else "presence limit")
                self.staff.add(key)
        return tracks.with_data(staff=np.array([k in self.staff for k in visitors], bool))

    def _carry_over(self, tracks: Detections) -> None:
        """A track flagged before re-ID named its visitor keeps the flag (and its first sighting)."""
        visitors = tracks.data.get("visitor")
        if visitors is None or tracks.tracker_id is None:
            return
        for vid, track in zip(visitors.tolist(), tracks.tracker_id.tolist(), strict=True):
            provisional = -1 - track
            if vid >= 0 and provisional in self._first_seen:
                first = self._first_seen.pop(provisional)
                self._first_seen[vid] = min(first, self._first_seen.get(vid, first))
                if provisional in self.staff:
                    self.staff.discard(provisional)
                    self.staff.add(vid)

    @staticmethod
    def _keys(tracks: Detections) -> list[int]:
        """The visitor id where known; a track's id (negated, so they cannot collide) until then."""
        visitors = tracks.data.get("visitor")
        ids = [] if tracks.tracker_id is None else tracks.tracker_id.tolist()
        if visitors is None:
            return [-1 - t for t in ids]
        return [int(v) if v >= 0 else -1 - t for v, t in zip(visitors.tolist(), ids, strict=True)]

    def forget(self, visitor: int) -> None:
        self._first_seen.pop(visitor, None)
        self.staff.discard(visitor)
