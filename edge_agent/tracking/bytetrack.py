"""ByteTrack association with a colour-appearance gate, a height gate and recovery of lost tracks.

Motion-only association (the `trackers` ByteTrack) swaps people who cross: when one of them is
missed for a frame, their box goes to whoever overlaps the prediction, and the swap sticks.
Measured on TUD-Campus and PETS 2009 (`storelens bench tracking`), those swaps and the fragments
they leave behind are what made unique visitors and line counts wrong. The stages, per frame:

1. high-score detections vs every live track: IoU with the Kalman prediction, gated by colour
   similarity (torso and legs, `appearance.py`) and by a plausible change of box height; cost
   = (1 - IoU) + `appearance_weight` * (1 - colour similarity);
2. low-score detections vs tracks matched last frame (IoU >= 0.5, ByteTrack's second stage);
3. tentative tracks vs the high-score detections left (IoU >= 0.3);
4. recovery: tracks lost for a while vs the detections still left, by centre distance (in units
   of the person's height) and a stricter colour gate, so a person who reappears from behind
   someone else continues their own track instead of starting a fragment;
5. high-score detections still unmatched start tentative tracks, confirmed (given an id) after
   `min_consecutive_frames` hits; on the first frame every confident detection is confirmed at
   once (there is no earlier frame to have confirmed it in).
Without colour descriptors (`data["colour"]`, e.g. boxes from an accelerator) the gates fall
back to motion and geometry only.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np

from edge_agent.detect.boxes import box_iou
from edge_agent.tracking.appearance import DIM, similarity
from edge_agent.tracking.association import assign, centre_distance, height_ratio
from edge_agent.tracking.kalman import BoxKalman
from edge_agent.tracking.quality import covered_share
from edge_agent.types import Detections
from storelens.config.tracking import TrackingConfig

log = logging.getLogger(__name__)

SECOND_STAGE_IOU = 0.1  # as roboflow's ByteTrack: low-score boxes may continue any unmatched track
CLEAN_COVER = 0.3  # only boxes less covered than this by another box update a track's colour


@dataclass
class _Track:
    kf: BoxKalman
    colour: np.ndarray
    id: int = -1
    hits: int = 1
    misses: int = 0
    row: int = -1  # the detection row this track took this frame, -1 when it took none


class AppearanceByteTrack:
    """`update(detections) -> detections` with `tracker_id` set; unconfirmed rows are dropped."""

    def __init__(self, cfg: TrackingConfig) -> None:
        self._cfg = cfg
        self._tracks: list[_Track] = []
        self._ids = itertools.count(1)
        self._first = True

    def update(self, dets: Detections) -> Detections:
        for t in self._tracks:
            t.row = -1
            t.kf.predict()
        colours = self._colours(dets)
        high = np.flatnonzero(dets.confidence >= self._cfg.high_conf_threshold)
        low = np.flatnonzero(dets.confidence < self._cfg.high_conf_threshold)
        matches: dict[int, int] = {}  # track index -> detection row
        left_high = self._stage(list(range(len(self._tracks))), high, dets, colours, matches, self._cfg.min_iou)
        rest = [i for i in range(len(self._tracks)) if i not in matches]
        self._stage(rest, low, dets, colours, matches, SECOND_STAGE_IOU)
        lost = [i for i, t in enumerate(self._tracks) if i not in matches and t.id >= 0 and t.misses >= 1]
        left_high = self._recover(lost, left_high, dets, colours, matches)
        return self._finish(dets, colours, matches, left_high)

    @staticmethod
    def _colours(dets: Detections) -> np.ndarray:
        colour = dets.data.get("colour")
        return np.zeros((len(dets), DIM), np.float32) if colour is None else np.asarray(colour, np.float32)

    def _stage(self, tracks: list[int], rows: np.ndarray, dets: Detections, colours: np.ndarray,
               matches: dict[int, int], min_iou: float) -> np.ndarray:
        """Match `tracks` to detection `rows` by IoU; returns the rows left over."""
        if not tracks or len(rows) == 0:
            return rows
        pred = np.stack([self._tracks[i].kf.box for i in tracks])
        iou = box_iou(pred, dets.xyxy[rows])
        app = similarity(np.stack([self._tracks[i].colour for i in tracks]), colours[rows])
        valid = (iou >= min_iou) & (app >= self._cfg.appearance_gate)
        cost = (1 - iou) + self._cfg.appearance_weight * (1 - app)
        pairs, _, free = assign(cost, valid)
        for r, c in pairs:
            matches[tracks[r]] = int(rows[c])
        return rows[free]

    def _recover(self, tracks: list[int], rows: np.ndarray, dets: Detections, colours: np.ndarray,
                 matches: dict[int, int]) -> np.ndarray:
        """Re-find tracks lost for a while near where they were headed, if their colours agree."""
        if not tracks or len(rows) == 0:
            return rows
        pred = np.stack([self._tracks[i].kf.box for i in tracks])
        dist = centre_distance(pred, dets.xyxy[rows])
        app = similarity(np.stack([self._tracks[i].colour for i in tracks]), colours[rows])
        has_colour = np.stack([np.linalg.norm(self._tracks[i].colour) > 0.5 for i in tracks])[:, None]
        valid = ((dist <= self._cfg.recover_radius) & (app >= self._cfg.recover_gate) & has_colour
                 & (height_ratio(pred, dets.xyxy[rows]) <= self._cfg.max_height_ratio))
        pairs, _, free = assign(dist + (1 - app), valid)
        for r, c in pairs:
            matches[tracks[r]] = int(rows[c])
        return rows[free]

    def _finish(self, dets: Detections, colours: np.ndarray, matches: dict[int, int],
                new_rows: np.ndarray) -> Detections:
        clean = covered_share(dets.xyxy) <= CLEAN_COVER if len(dets) else np.zeros(0, bool)
        for i, row in matches.items():
            self._matched(self._tracks[i], row, dets.xyxy[row], colours[row], bool(clean[row]))
        for i, t in enumerate(self._tracks):
            if i not in matches:
                t.misses += 1
        self._tracks = [t for i, t in enumerate(self._tracks) if self._alive(t, i in matches)]
        for row in new_rows:
            if dets.confidence[row] >= self._cfg.activation_threshold:
                self._spawn(int(row), dets.xyxy[row], colours[row])
        self._first = False
        out = {t.row: t.id for t in self._tracks if t.id >= 0 and t.row >= 0}
        rows = np.array(sorted(out), np.int64)
        return dets.filter(rows).with_tracker_id(np.array([out[r] for r in rows], np.int64))

    def _matched(self, t: _Track, row: int, box: np.ndarray, colour: np.ndarray, clean: bool) -> None:
        t.kf.update(box)
        t.row = row
        t.hits += 1
        t.misses = 0
        if clean and np.linalg.norm(colour) > 0.5:
            mixed = colour if np.linalg.norm(t.colour) < 0.5 else 0.8 * t.colour + 0.2 * colour
            t.colour = (mixed / max(float(np.linalg.norm(mixed)), 1e-6)).astype(np.float32)
        if t.id < 0 and t.hits >= self._cfg.min_consecutive_frames:
            t.id = next(self._ids)

    def _alive(self, t: _Track, matched: bool) -> bool:
        if t.id < 0:
            return matched  # a tentative track missed once was noise
        return t.misses <= self._cfg.track_buffer_frames

    def _spawn(self, row: int, box: np.ndarray, colour: np.ndarray) -> None:
        t = _Track(BoxKalman(box), colour.copy(), row=row)
        if self._first or self._cfg.min_consecutive_frames <= 1:
            t.id = next(self._ids)
        self._tracks.append(t)
