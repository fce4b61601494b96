"""The spatial analytics of one camera, run in order on each frame's tracked people: staff, entrance
lines, zones and the floor heatmap. Visits and groups live in the visit lifecycle
(edge_agent/analytics/visit_lifecycle.py), which reads the arrivals and staff decisions made here.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edge_agent.analytics.heatmap import FloorHeatmap
from edge_agent.analytics.homography import FloorMapper
from edge_agent.analytics.line import Crossing, LineCounter
from edge_agent.analytics.staff import StaffFilter
from edge_agent.analytics.zones import ZoneCounter, ZoneVisit
from edge_agent.types import Detections
from storelens.config.analytics import AnalyticsConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    """A customer arriving: crossed an entrance line inwards (or, without lines, first decided)."""

    visitor: int
    point: np.ndarray  # floor metres, where they arrived


@dataclass(frozen=True)
class ZoneStay:
    """A finished zone visit, with whose visit it belongs to (it is reported when that visit closes)."""

    visitor: int  # -1: the track never had a visitor id
    zone: str
    dwell_s: float


@dataclass
class FrameResult:
    """What one frame (or a shutdown) produced for the window."""

    customers: int = 0  # non-staff people in view
    crossings: list[Crossing] = field(default_factory=list)
    zone_visits: list[ZoneStay] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    new_staff: list[int] = field(default_factory=list)  # visitors first recognised as staff on this frame


class SceneAnalytics:
    """Lines, zones, staff and heatmap for one camera."""

    def __init__(self, cfg: AnalyticsConfig, mapper: FloorMapper | None) -> None:
        self.cfg = cfg
        self.lines = [LineCounter(line) for line in cfg.lines]
        self.zones = ZoneCounter([z for z in cfg.zones if not z.staff_only], cfg.zone_grace_s)
        self.staff = StaffFilter(cfg.zones, cfg.max_presence_s)
        self._staff_known: set[int] = set()
        self._visitor_of: dict[int, int] = {}  # track -> its visitor id as last seen (ids can be withdrawn)
        self.heatmap = FloorHeatmap(mapper, cfg.heatmap_cell_m, cfg.heatmap_sample_s) if mapper else None

    def ensure_heatmap(self, width_px: int, height_px: int) -> FloorHeatmap:
        """Without a calibration the floor is the image itself, known once the first frame arrives."""
        if self.heatmap is None:
            self.heatmap = FloorHeatmap(FloorMapper.pixels(width_px, height_px), self.cfg.heatmap_cell_m,
                                        self.cfg.heatmap_sample_s)
        return self.heatmap

    def update(self, tracks: Detections, now: float, bands: list[str], new_visitors: list[int] = ()) -> FrameResult:
        """`new_visitors`: decided on this frame; without entrance lines their first sighting is their arrival."""
        tracks = self.staff.update(tracks, now)
        keep = ~tracks.data["staff"]
        customers = tracks.filter(keep)
        result = FrameResult(customers=len(customers), new_staff=self._new_staff())
        for line in self.lines:
            result.crossings += self._line_update(line, tracks, result.arrivals)
        if not self.lines:
            result.arrivals += self._first_sightings(new_visitors, tracks)
        if tracks.tracker_id is not None and "visitor" in tracks.data:
            self._visitor_of.update(zip(tracks.tracker_id.tolist(), tracks.data["visitor"].tolist(), strict=True))
        result.zone_visits = self._stays(self.zones.update(customers, now))
        self.heatmap.update(customers, now, [b for b, k in zip(bands, keep, strict=True) if k])
        return result

    def _new_staff(self) -> list[int]:
        staff = self.staff.staff
        if staff == self._staff_known:  # nearly every frame: nobody new
            return []
        new = [key for key in staff if key not in self._staff_known]
        self._staff_known = set(staff)
        return new

    def _line_update(self, line: LineCounter, tracks: Detections, arrivals: list[Arrival]) -> list[Crossing]:
        crossings = [c for c in line.update(tracks) if not self._is_staff_row(tracks, c.track)]
        for c in crossings:
            vid = self._visitor(tracks, c.track) if c.direction == "in" else -1
            if vid >= 0:
                arrivals.append(Arrival(vid, self._to_floor(np.array([c.point]))[0]))
        return crossings

    @staticmethod
    def _row(tracks: Detections, track: int) -> int:
        return int(np.flatnonzero(tracks.tracker_id == track)[0])

    def _is_staff_row(self, tracks: Detections, track: int) -> bool:
        return bool(tracks.data["staff"][self._row(tracks, track)])

    def _visitor(self, tracks: Detections, track: int) -> int:
        return int(tracks.data["visitor"][self._row(tracks, track)])

    def _first_sightings(self, vids: list[int], tracks: Detections) -> list[Arrival]:
        visitors = tracks.data.get("visitor", np.zeros(0))
        out = []
        for vid in vids:
            rows = np.flatnonzero(visitors == vid)
            if len(rows) and vid not in self.staff.staff:
                out.append(Arrival(vid, self._to_floor(tracks.foot_points[rows[:1]])[0]))
        return out

    def _to_floor(self, points: np.ndarray) -> np.ndarray:
        return self.heatmap.mapper.to_floor(points)  # the heatmap's floor: calibrated, or the pixel grid

    def take_heat(self) -> tuple[Counter, dict[str, Counter]]:
        """Heatmap samples since the last call, all and by age band (none before the first frame)."""
        return self.heatmap.take() if self.heatmap is not None else (Counter(), {})

    def heat_shape(self) -> tuple[float, int, int]:
        """(cell metres, width cells, height cells) of the floor grid the windows' cells lie on."""
        heat = self.heatmap
        return (heat.cell_m, heat.width_cells, heat.height_cells) if heat else (self.cfg.heatmap_cell_m, 0, 0)

    def is_staff(self, visitor: int) -> bool:
        return visitor in self.staff.staff

    def _stays(self, visits: list[ZoneVisit]) -> list[ZoneStay]:
        return [ZoneStay(self._visitor_of.get(v.track, -1), v.zone, v.dwell_s) for v in visits]

    def end_tracks(self, track_ids: tuple[int, ...]) -> list[ZoneStay]:
        for line in self.lines:
            line.forget(track_ids)
        if self.heatmap:
            self.heatmap.forget(track_ids)
        for t in track_ids:
            self.staff.forget(-1 - t)  # provisional key of a track that never got a visitor
        stays = self._stays(self.zones.end_tracks(track_ids))
        for t in track_ids:
            self._visitor_of.pop(t, None)
        return stays

    def end_all(self) -> list[ZoneStay]:
        """Shutdown: every zone visit still open ends now."""
        return self._stays(self.zones.end_all())

    def forget_visitors(self, visitors: list[int]) -> None:
        """Their visits closed: drop what the staff rule remembered of them."""
        for vid in visitors:
            self.staff.forget(vid)
        self._staff_known.difference_update(visitors)
