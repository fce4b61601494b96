"""Entrance line counting with direction and hysteresis.

supervision's LineZone was considered: it decides sides from box anchors and only offers a
frame-count threshold against jitter, so a person who stands on the line and sways can still
flip it. Here a track's side changes only once its foot point is `band_px` clear of the line,
and only when it is beside the segment (not walking around its end).

The foot point is the median of the track's last `smoothing_frames` foot points. A box bottom
jumps when legs are hidden behind someone or when the tracker takes a merged box for a frame;
each such jump used to count a crossing and its return trip (`storelens audit` on TUD-Campus
and its variants: a line along the walkway counted 5 crossings where the ground truth has none).

A person's side is also remembered per visitor (tracks carry data["visitor"] from re-ID), so a
crossing made while the person was hidden still counts: their track breaks behind someone on one
side of the line and their next track, which re-ID joins to the same visitor, starts on the other.
The memory lasts `memory_frames` frames after the visitor was last placed on a side.

Two more rules come from watching the PETS 2009 sample, where a sign post stands beside the line
and people stop there in groups (tests/data/audit/pets2009_crossings.yaml lists every crossing):
- Someone who walks behind the post (or behind a person standing on the line) and reappears in
  the middle of the band gets a new track that re-ID often cannot join: their old track was taken
  over by whoever stood there. Such a track, first seen in the middle half of the band after the
  first frame and walking out of it across the line within `reappear_frames`, came from the other
  side and counts. A track that lingers in the band first (a person standing on the line, whose
  earlier side is unknown) counts nothing, as before.
- A foot point that moves across the line further in a frame than a person walks
  (`max_step_heights` box heights) is held out of the median (trail.py). If the track returns, it
  was a glitch; if it stays where it jumped to, the tracker put the track onto someone else, or
  onto a box cut off above the legs, and the track's side is learnt afresh, without counting and
  without its visitor's remembered side (the visitor id came with the old person). On a derived
  TUD-Campus crop such a switch counted a crossing of the line along the walkway.
On PETS this took the count from 11 in / 13 out to 11 / 14 against the hand annotation's 11 / 15,
and the mean all-lines accuracy over the TUD-Campus scenarios from 0.950 to 0.971
(`storelens bench tracking`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edge_agent.analytics.trail import FootTrail, Step
from edge_agent.types import Detections
from storelens.config.analytics import LineConfig

log = logging.getLogger(__name__)

END_MARGIN = 0.1  # crossings within 10% of the line length beyond either end still count
ACROSS = 0.5  # a reappearing track walks across the line: sideways at least half as far as along it


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
        self._normal = np.array([-self._dir[1], self._dir[0]])  # signed_distance grows along it
        self._in_sign = 1 if cfg.in_side == "right" else -1
        self._side: dict[int, int] = {}
        self._first_side: dict[int, int] = {}  # track -> the side it was first placed on
        self._track_visitor: dict[int, int] = {}  # track -> its visitor id as last seen
        self._visitor_side: dict[int, tuple[int, int]] = {}  # visitor -> (side, frame number)
        self._trails: dict[int, FootTrail] = {}  # track -> its recent foot points
        self._arrival: dict[int, tuple[int, np.ndarray]] = {}  # track -> (frame, foot) first seen mid-band
        self._jumped: set[int] = set()  # tracks switched onto someone else: no visitor memory for them
        self._frame = 0
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
        self._frame += 1
        feet, held, new = self._feet(tracks)
        dist, beside = self.signed_distance(feet), self._beside(feet)
        visitors = tracks.data.get("visitor")
        crossings: list[Crossing] = []
        for row, (track, d, ok, foot) in enumerate(zip(tracks.tracker_id.tolist(), dist, beside, feet, strict=True)):
            if row not in held:  # a jumped point waits for the next ones to say where the track is
                vid = None if visitors is None else int(visitors[row])
                crossings += self._place(track, vid, float(d), bool(ok), foot, track in new)
        return crossings

    def _place(self, track: int, vid: int | None, d: float, ok: bool, foot: np.ndarray, new: bool) -> list[Crossing]:
        """One track's smoothed foot point this frame: `d` pixels from the line, `ok` beside the segment."""
        out = []
        joined = self._joined(track, vid)
        if joined is not None and ok:  # re-ID joined this track to someone last seen on the other side
            out.append(self._count(track, joined, foot))
        if new and self._frame > 1 and abs(d) <= self.cfg.band_px / 2:
            self._arrival[track] = (self._frame, foot)
        if abs(d) < self.cfg.band_px:
            return out  # on the line: keep the last confirmed side
        side = 1 if d > 0 else -1
        before = self._side.get(track)
        if before is None:
            self._first_side[track] = side
            before = self._origin(track, vid, side, foot)
        self._side[track] = side
        if vid is not None and track not in self._jumped:  # a switched track's visitor id is someone else's
            self._visitor_side[vid] = (side, self._frame)
        if before is not None and before != side and ok:
            out.append(self._count(track, side, foot))
        return out

    def _joined(self, track: int, vid: int | None) -> int | None:
        """The side to count a crossing towards when this track just became a known visitor who was last
        placed on the other side of the line than where this track was first seen; else None."""
        if vid is None:
            return None
        previous = self._track_visitor.get(track)
        self._track_visitor[track] = vid
        first = self._first_side.get(track)
        if previous is None or previous == vid or first is None or track in self._jumped:
            return None
        remembered = self._remembered(vid)
        return first if remembered is not None and remembered != first else None

    def _origin(self, track: int, vid: int | None, side: int, foot: np.ndarray) -> int | None:
        """The side a track first placed on `side` came from: its visitor's remembered side, else (for a
        track that reappeared mid-band and walked straight out across the line) the other side; else None."""
        remembered = None if track in self._jumped else self._remembered(vid)
        if remembered is not None or track not in self._arrival:
            return remembered
        frame, start = self._arrival.pop(track)
        moved = foot - start
        sideways, along = abs(float(moved @ self._normal)), abs(float(moved @ self._dir))
        if self._frame - frame <= self.cfg.reappear_frames and sideways >= ACROSS * along:
            return -side
        return None

    def _feet(self, tracks: Detections) -> tuple[np.ndarray, set[int], set[int]]:
        """(smoothed foot point per row, rows whose point jumped and is held, tracks seen for the first time)."""
        feet, held, new = [], set(), set()
        for row, (track, foot, height) in enumerate(zip(tracks.tracker_id.tolist(), tracks.foot_points,
                                                        tracks.heights, strict=True)):
            trail = self._trails.get(track)
            if trail is None:
                trail = self._trails[track] = FootTrail(self.cfg.smoothing_frames, self.cfg.max_step_heights,
                                                         self._normal)
                new.add(track)
            step = trail.add(self._frame, foot, float(height))
            if step is Step.HELD:
                held.add(row)
            elif step is Step.RESTARTED:
                log.debug("line %s: track %d moved further than a walk: its side is learnt afresh", self.cfg.name,
                          track)
                self._restart(track)
            feet.append(trail.smoothed())
        return np.array(feet, np.float64).reshape(-1, 2), held, new

    def _restart(self, track: int) -> None:
        for state in (self._side, self._first_side, self._arrival):
            state.pop(track, None)
        self._jumped.add(track)

    def _remembered(self, vid: int | None) -> int | None:
        if vid is None or vid not in self._visitor_side:
            return None
        side, frame = self._visitor_side[vid]
        return side if self._frame - frame <= self.cfg.memory_frames else None

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
            self._trails.pop(t, None)
            self._first_side.pop(t, None)
            self._track_visitor.pop(t, None)
            self._arrival.pop(t, None)
            self._jumped.discard(t)
        stale = self._frame - self.cfg.memory_frames
        self._visitor_side = {v: sf for v, sf in self._visitor_side.items() if sf[1] >= stale}
