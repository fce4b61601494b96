"""Which tracks started and which ended this frame (a track ends when lost for longer than the tracker keeps it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.types import Detections


@dataclass(frozen=True)
class TrackEvents:
    started: tuple[int, ...]
    ended: tuple[int, ...]


class TrackLifecycle:
    def __init__(self, lost_frames: int) -> None:
        self._lost_frames = lost_frames
        self._last_seen: dict[int, int] = {}
        self._frame = -1

    def update(self, tracks: Detections) -> TrackEvents:
        self._frame += 1
        ids = [] if tracks.tracker_id is None else [int(t) for t in np.unique(tracks.tracker_id)]
        started = tuple(t for t in ids if t not in self._last_seen)
        for t in ids:
            self._last_seen[t] = self._frame
        ended = tuple(t for t, f in self._last_seen.items() if self._frame - f > self._lost_frames)
        for t in ended:
            del self._last_seen[t]
        return TrackEvents(started, ended)

    def end_all(self) -> TrackEvents:
        """At shutdown every live track ends."""
        ended = tuple(self._last_seen)
        self._last_seen.clear()
        return TrackEvents((), ended)
