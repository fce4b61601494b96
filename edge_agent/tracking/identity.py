"""Re-ID stage: gives each track a visitor identity from the gallery, embedding crops sparingly.

New tracks are embedded at once (when tall enough), live tracks every `embed_every_frames`, at
most `max_crops_per_frame` crops per frame with new tracks first. A track with no usable crop
after that many frames becomes a new visitor without a vector.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np

from edge_agent.tracking.config import ReidConfig
from edge_agent.tracking.embedder import ReidEmbedder
from edge_agent.tracking.gallery import ReidGallery
from edge_agent.types import Detections

log = logging.getLogger(__name__)


class VisitorIdentity:
    """`update(frame, tracks, ts) -> tracks` with data["visitor"]; `end(track_ids, ts)` releases them."""

    def __init__(self, cfg: ReidConfig, camera_id: str, gallery: ReidGallery, embedder: ReidEmbedder | None) -> None:
        self._cfg = cfg
        self._camera = camera_id
        self.gallery = gallery
        self._embedder = embedder
        self._visitor: dict[int, int] = {}
        self._age: dict[int, int] = {}  # frames since the track's last embedding (or since birth)
        self.new_visitors: list[int] = []  # visitors this camera counts, drained by the caller

    def update(self, frame_bgr: np.ndarray, tracks: Detections, ts: datetime) -> Detections:
        now = ts.timestamp()
        ids = [] if tracks.tracker_id is None else tracks.tracker_id.tolist()
        for t in ids:
            self._age[t] = self._age.get(t, -1) + 1
        rows = self._rows_to_embed(tracks, ids)
        vectors = self._embedder.embed(frame_bgr, tracks.xyxy[rows]) if rows and self._embedder else None
        for k, row in enumerate(rows):
            self._use_vector(ids[row], None if vectors is None else vectors[k], now)
        for t in ids:  # give up waiting for a usable crop
            if t not in self._visitor and self._age[t] >= self._cfg.embed_every_frames:
                self._use_vector(t, None, now)
        visitor = np.array([self._visitor.get(t, -1) for t in ids], np.int64)
        return tracks.with_data(visitor=visitor)

    def _rows_to_embed(self, tracks: Detections, ids: list[int]) -> list[int]:
        if self._embedder is None:
            return [r for r, t in enumerate(ids) if t not in self._visitor]  # each track its own visitor
        tall = tracks.heights >= self._cfg.min_crop_height_px
        new = [r for r, t in enumerate(ids) if tall[r] and t not in self._visitor]
        due = [r for r, t in enumerate(ids) if tall[r] and t in self._visitor
               and self._age[t] >= self._cfg.embed_every_frames]
        return (new + due)[: self._cfg.max_crops_per_frame]

    def _use_vector(self, track: int, vector: np.ndarray | None, now: float) -> None:
        self._age[track] = 0
        vid = self._visitor.get(track)
        if vid is not None:
            if vector is not None:
                self.gallery.update(vid, vector, now)
            return
        vid, is_new = self.gallery.assign(self._camera, track, vector, now)
        self._visitor[track] = vid
        if is_new:
            self.new_visitors.append(vid)

    def visitor_of(self, track: int) -> int | None:
        return self._visitor.get(track)

    def end(self, track_ids: tuple[int, ...], ts: datetime) -> None:
        for t in track_ids:
            vid = self._visitor.pop(t, None)
            self._age.pop(t, None)
            if vid is not None:
                self.gallery.release(self._camera, t, vid, ts.timestamp())
