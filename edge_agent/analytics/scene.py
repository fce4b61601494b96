"""The analytics stages of one camera, run in order on each frame's tracked people."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from edge_agent.analytics.groups import GroupDetector, GroupResult
from edge_agent.analytics.heatmap import FloorHeatmap
from edge_agent.analytics.homography import FloorMapper
from edge_agent.analytics.line import Crossing, LineCounter
from edge_agent.analytics.staff import StaffFilter
from edge_agent.analytics.visits import Visit, VisitBook
from edge_agent.analytics.zones import ZoneCounter, ZoneVisit
from edge_agent.types import Detections
from storelens.config.analytics import AnalyticsConfig

log = logging.getLogger(__name__)


@dataclass
class FrameResult:
    """What one frame (or a shutdown) produced for the window."""

    customers: int = 0  # non-staff people in view
    crossings: list[Crossing] = field(default_factory=list)
    zone_visits: list[ZoneVisit] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    groups: list[GroupResult] = field(default_factory=list)


class SceneAnalytics:
    """Lines, zones, staff, visits, groups and heatmap for one camera."""

    def __init__(self, cfg: AnalyticsConfig, mapper: FloorMapper | None) -> None:
        self.cfg = cfg
        self.lines = [LineCounter(line) for line in cfg.lines]
        self.zones = ZoneCounter([z for z in cfg.zones if not z.staff_only], cfg.zone_grace_s)
        self.staff = StaffFilter(cfg.zones, cfg.max_presence_s)
        self.visits = VisitBook()
        self.groups = GroupDetector(cfg.group_gap_s, cfg.group_distance_m, cfg.child_age)
        self.heatmap = FloorHeatmap(mapper, cfg.heatmap_cell_m, cfg.heatmap_sample_s) if mapper else None

    def ensure_heatmap(self, width_px: int, height_px: int) -> FloorHeatmap:
        """Without a calibration the floor is the image itself, known once the first frame arrives."""
        if self.heatmap is None:
            self.heatmap = FloorHeatmap(FloorMapper.pixels(width_px, height_px), self.cfg.heatmap_cell_m,
                                        self.cfg.heatmap_sample_s)
        return self.heatmap

    def update(self, tracks: Detections, now: float, bands: list[str]) -> FrameResult:
        tracks = self.staff.update(tracks, now)
        self.visits.update(tracks, now)
        keep = ~tracks.data["staff"]
        customers = tracks.filter(keep)
        result = FrameResult(customers=len(customers))
        for line in self.lines:
            result.crossings += self._line_update(line, tracks, now)
        result.zone_visits = self.zones.update(customers, now)
        self.heatmap.update(customers, now, [b for b, k in zip(bands, keep, strict=True) if k])
        return result

    def _line_update(self, line: LineCounter, tracks: Detections, now: float) -> list[Crossing]:
        crossings = [c for c in line.update(tracks) if not self._is_staff(tracks, c.track)]
        for c in crossings:
            if c.direction == "in":
                vid = self._visitor(tracks, c.track)
                if vid >= 0:
                    self.groups.arrive(vid, now, self.heatmap.mapper.to_floor(np.array([c.point]))[0])
        return crossings

    @staticmethod
    def _row(tracks: Detections, track: int) -> int:
        return int(np.flatnonzero(tracks.tracker_id == track)[0])

    def _is_staff(self, tracks: Detections, track: int) -> bool:
        return bool(tracks.data["staff"][self._row(tracks, track)])

    def _visitor(self, tracks: Detections, track: int) -> int:
        return int(tracks.data["visitor"][self._row(tracks, track)])

    def end_tracks(self, track_ids: tuple[int, ...]) -> list[ZoneVisit]:
        for line in self.lines:
            line.forget(track_ids)
        if self.heatmap:
            self.heatmap.forget(track_ids)
        for t in track_ids:
            self.staff.forget(-1 - t)  # provisional key of a track that never got a visitor
        return self.zones.end_tracks(track_ids)

    def close_visit(self, vid: int, age: float, now: float) -> tuple[Visit | None, list[GroupResult]]:
        staff = vid in self.staff.staff
        visit = self.visits.close(vid, age, staff)
        self.staff.forget(vid)
        return visit, self.groups.close(vid, age, staff, now)

    def arrivals_without_lines(self, vids: list[int], tracks: Detections, now: float) -> None:
        """No entrance line: a new visitor's first sighting is their arrival (for groups)."""
        if self.lines:
            return
        visitors = tracks.data.get("visitor", np.zeros(0))
        for vid in vids:
            rows = np.flatnonzero(visitors == vid)
            if len(rows):
                point = self.heatmap.mapper.to_floor(tracks.foot_points[rows[:1]])[0]
                self.groups.arrive(vid, now, point)

