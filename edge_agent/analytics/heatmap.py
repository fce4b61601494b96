"""Floor heatmap: foot points on the floor grid, counted per window and per age band.

Heatmaps are data: counts per cell, coloured only in the dashboard.
"""

from __future__ import annotations

import logging
import math
from collections import Counter

from edge_agent.analytics.homography import FloorMapper
from edge_agent.types import Detections

log = logging.getLogger(__name__)


class FloorHeatmap:
    """`update(tracks, now, bands)` adds each person at most once per `sample_s`; `take()` empties it."""

    def __init__(self, mapper: FloorMapper, cell_m: float, sample_s: float) -> None:
        self.mapper = mapper
        self.cell_m = cell_m
        self.width_cells = max(1, math.ceil(mapper.width_m / cell_m))
        self.height_cells = max(1, math.ceil(mapper.height_m / cell_m))
        self._sample_s = sample_s
        self._last: dict[int, float] = {}
        self.cells: Counter[tuple[int, int]] = Counter()
        self.by_band: dict[str, Counter[tuple[int, int]]] = {}
        self.off_floor = 0  # foot points outside the floor plan (a bad calibration shows up here)

    def update(self, tracks: Detections, now: float, bands: list[str]) -> None:
        ids = [] if tracks.tracker_id is None else tracks.tracker_id.tolist()
        due = [r for r, t in enumerate(ids) if now - self._last.get(t, -math.inf) >= self._sample_s]
        if not due:
            return
        floor = self.mapper.to_floor(tracks.foot_points[due])
        for row, (x, y) in zip(due, floor, strict=True):
            self._last[ids[row]] = now
            cell = self._cell(x, y)
            if cell is None:
                self.off_floor += 1
                continue
            self.cells[cell] += 1
            if bands[row]:
                self.by_band.setdefault(bands[row], Counter())[cell] += 1

    def _cell(self, x: float, y: float) -> tuple[int, int] | None:
        col, row = math.floor(x / self.cell_m), math.floor(y / self.cell_m)
        if 0 <= col < self.width_cells and 0 <= row < self.height_cells:
            return col, row
        return None

    def forget(self, track_ids: tuple[int, ...]) -> None:
        for t in track_ids:
            self._last.pop(t, None)

    def take(self) -> tuple[Counter, dict[str, Counter]]:
        cells, by_band = self.cells, self.by_band
        self.cells, self.by_band = Counter(), {}
        return cells, by_band
