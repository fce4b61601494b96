"""Visits: one per visitor identity, from first to last sighting, closed when the re-ID gallery
forgets the visitor (TTL) or at shutdown. A closed visit carries the dwell and the voted age.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.types import Detections


@dataclass(frozen=True)
class Visit:
    visitor: int
    first_seen: float
    last_seen: float
    age: float  # voted age, NaN when no good face was seen
    staff: bool

    @property
    def dwell_s(self) -> float:
        return self.last_seen - self.first_seen


class VisitBook:
    """`update(tracks, now)` records sightings; `close(visitor, age, staff)` ends a visit."""

    def __init__(self) -> None:
        self._span: dict[int, list[float]] = {}

    @property
    def open_visitors(self) -> list[int]:
        return list(self._span)

    def update(self, tracks: Detections, now: float) -> None:
        for vid in np.unique(tracks.data.get("visitor", np.zeros(0, np.int64))).tolist():
            if vid >= 0:
                self._span.setdefault(vid, [now, now])[1] = now

    def close(self, visitor: int, age: float, staff: bool) -> Visit | None:
        span = self._span.pop(visitor, None)
        if span is None:
            return None
        return Visit(visitor, span[0], span[1], age, staff)
