"""Windowing: everything one camera counted in one window becomes one AggregateWindow.

Windows are aligned to the clock (a 15-minute window starts at :00, :15, ...). Only counts,
histograms and grid cells go in: no track ids, visitor ids, boxes or embeddings.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from storelens.agebands import age_histogram
from storelens.wire import COUNT_FIELDS, DWELL_EDGES_S, AggregateWindow, DwellHistogram, Heatmap, ZoneStats

log = logging.getLogger(__name__)


def window_start(ts: datetime, minutes: int) -> datetime:
    """Start of the clock-aligned window holding `ts` (UTC)."""
    step = minutes * 60
    epoch = ts.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(math.floor(epoch / step) * step, UTC)


def dwell_bin(dwell_s: float) -> int:
    """Index in DWELL_EDGES_S; the last bin is open-ended."""
    return max(0, int(np.searchsorted(DWELL_EDGES_S, dwell_s, side="right")) - 1)


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_FIELDS, 0)


@dataclass
class WindowCounts:
    """What one window has collected so far; `build` turns it into the wire message.

    `counts` holds every count field of the wire model (storelens.wire.COUNT_FIELDS), so a count
    added there is carried here without another list to update; `add` refuses unknown names.
    """

    start: datetime
    end: datetime
    counts: dict[str, int] = field(default_factory=_zero_counts)
    gap_s: float = 0.0
    ages: list[float] = field(default_factory=list)
    dwell: list[int] = field(default_factory=lambda: [0] * len(DWELL_EDGES_S))
    zone_dwell: dict[str, list[float]] = field(default_factory=dict)
    heat: Counter = field(default_factory=Counter)
    heat_by_band: dict[str, Counter] = field(default_factory=dict)

    def add(self, name: str, n: int) -> None:
        """Add to a summed count (KeyError on a name the wire model does not have)."""
        self.counts[name] += n

    def peak(self, name: str, value: int) -> None:
        self.counts[name] = max(self.counts[name], value)

    def add_closed_visit(self, dwell_s: float, age: float) -> None:
        """A visit that closed in this window: its dwell, and its age when one was voted.

        The visitor was counted in `unique_visitors` of the window that decided them, not here."""
        self.dwell[dwell_bin(dwell_s)] += 1
        if not math.isnan(age):
            self.ages.append(age)
            self.counts["visitors_with_age"] += 1

    def add_heat(self, cells: Counter, by_band: dict[str, Counter]) -> None:
        self.heat.update(cells)
        for band, counter in by_band.items():
            self.heat_by_band.setdefault(band, Counter()).update(counter)

    def build(self, ids: tuple[str, str, str], seq: int, heat_shape: tuple[float, int, int],
              model_versions: dict[str, str]) -> AggregateWindow:
        store_id, device_id, camera_id = ids
        cell_m, width, height = heat_shape
        return AggregateWindow(
            store_id=store_id, device_id=device_id, camera_id=camera_id,
            window_start=self.start, window_end=self.end, seq=seq, **self.counts,
            gap_seconds=min(self.gap_s, 86_400.0),
            age_histogram=age_histogram(np.asarray(self.ages)).tolist(),
            dwell_seconds_histogram=DwellHistogram(counts=self.dwell),
            zone_visits={z: ZoneStats(visits=len(d), mean_dwell_s=float(np.mean(d))) for z, d in self.zone_dwell.items()},
            heatmap=Heatmap(cell_m=cell_m, width_cells=width, height_cells=height, cells=_cells(self.heat),
                            by_band={b: _cells(c) for b, c in self.heat_by_band.items()}),
            model_versions=model_versions,
        )


def _cells(counter: Counter) -> list[list[int]]:
    return [[col, row, n] for (col, row), n in sorted(counter.items())]


def merge_cells(*cell_lists: list[list[int]]) -> list[list[int]]:
    """Wire heatmap cells ([col, row, count]) summed cell by cell, sorted as `build` writes them."""
    total: Counter = Counter()
    for cells in cell_lists:
        for col, row, n in cells:
            total[(col, row)] += n
    return _cells(total)


class Windower:
    """Holds the open window; `advance(ts)` closes and returns every window that ended before `ts`."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        self.current: WindowCounts | None = None

    def advance(self, ts: datetime) -> list[WindowCounts]:
        start = window_start(ts, self.minutes)
        if self.current is None:
            self.current = self._new(start)
            return []
        closed = []
        while self.current.start < start:
            closed.append(self.current)
            self.current = self._new(self.current.end)
        return closed

    def _new(self, start: datetime) -> WindowCounts:
        return WindowCounts(start, start + timedelta(minutes=self.minutes))

    def add_gap(self, gap_start: datetime, gap_end: datetime, windows: list[WindowCounts]) -> None:
        """Spread lost seconds over the windows they fell in (closed ones and the current one)."""
        for w in [*windows, self.current]:
            if w is None:
                continue
            overlap = (min(gap_end, w.end) - max(gap_start, w.start)).total_seconds()
            if overlap > 0:
                w.gap_s += overlap

    def close(self) -> WindowCounts | None:
        current, self.current = self.current, None
        return current
