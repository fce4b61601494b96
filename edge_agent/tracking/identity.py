"""Re-ID stage: gives each track a visitor identity from the gallery, embedding crops sparingly.

A new track is pending until it has `embeddings_to_decide` embeddings of usable crops, taken every
`pending_every_frames`; their mean is then matched against the gallery. Deciding on one entry crop
was the weak point: a single crop is often cut by the frame border or half hidden behind someone,
and such crops embed far from the same person's other views (`storelens bench reid` measures it).
Meanwhile the track carries a tentative visitor id (so its sightings, faces and dwell are kept
from birth) that nobody counts yet: the decision either confirms it as a new visitor (counted
then) or withdraws it in favour of the returning visitor it matched, whose visit goes on.
A track still short of crops after `decide_within_frames`, or that ends, decides on what it has;
with none it is a new visitor without a vector. Decided tracks refresh their prototype every
`embed_every_frames`. At most `max_crops_per_frame` crops per frame, pending tracks first.

A track may join a visitor whose other track is merely lost (out of view since before this track
was born, though the tracker still holds it): that is how an occluded person's next fragment
keeps their identity. Should both tracks then show in one frame, they are two people after all,
and the younger track is split off as a visitor of its own (counted then).
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np

from edge_agent.tracking.embedder import ReidEmbedder
from edge_agent.tracking.gallery import ReidGallery
from edge_agent.tracking.quality import usable_crops
from edge_agent.types import Detections
from storelens.config.tracking import ReidConfig

log = logging.getLogger(__name__)


class VisitorIdentity:
    """`update(frame, tracks, ts) -> tracks` with data["visitor"]; `end(track_ids, ts)` releases them."""

    def __init__(self, cfg: ReidConfig, camera_id: str, gallery: ReidGallery, embedder: ReidEmbedder | None) -> None:
        self._cfg = cfg
        self._camera = camera_id
        self.gallery = gallery
        self._embedder = embedder
        self._visitor: dict[int, int] = {}
        self._pending: dict[int, list[np.ndarray]] = {}  # undecided track -> embeddings so far
        self._tentative: dict[int, int] = {}  # undecided track -> its reserved visitor id
        self._since_embed: dict[int, int] = {}  # frames since the track's last embedding (or birth)
        self._frames: dict[int, int] = {}  # frames since the track's birth
        self._born: dict[int, float] = {}  # when the track was first seen (epoch seconds)
        self.new_visitors: list[int] = []  # visitors this camera counts, drained by the caller

    def update(self, frame_bgr: np.ndarray, tracks: Detections, ts: datetime) -> Detections:
        now = ts.timestamp()
        ids = [] if tracks.tracker_id is None else tracks.tracker_id.tolist()
        for t in ids:
            self._since_embed[t] = self._since_embed.get(t, -1) + 1
            self._frames[t] = self._frames.get(t, -1) + 1
            if t not in self._visitor and t not in self._pending:
                self._pending[t] = []
                self._tentative[t] = self.gallery.reserve(self._camera, t, now)
                self._born[t] = now
        rows = self._rows_to_embed(tracks, ids, frame_bgr.shape)
        if rows:
            vectors = self._embedder.embed(frame_bgr, tracks.xyxy[rows])
            for k, row in enumerate(rows):
                self._use_vector(ids[row], vectors[k], now)
        for t in ids:
            if t in self._pending and self._due_decision(t):
                self._decide(t, now)
        self._split_doubles(ids, now)
        visitor = np.array([self._visitor.get(t, self._tentative.get(t, -1)) for t in ids], np.int64)
        self.gallery.seen(self._camera, [(t, int(v)) for t, v in zip(ids, visitor, strict=True) if v >= 0], now)
        return tracks.with_data(visitor=visitor)

    def _split_doubles(self, ids: list[int], now: float) -> None:
        """One visitor on two tracks in the same frame is two people: the younger track becomes a new visitor."""
        by_visitor: dict[int, list[int]] = {}
        for t in ids:
            if t in self._visitor:
                by_visitor.setdefault(self._visitor[t], []).append(t)
        for vid, tracks in by_visitor.items():
            for t in sorted(tracks, key=lambda k: self._born.get(k, now))[1:]:
                new = self.gallery.split(self._camera, t, vid, now)
                log.debug("identity: track %s/%d is not visitor %d (both in view): new visitor %d",
                          self._camera, t, vid, new)
                self._visitor[t] = new
                self.new_visitors.append(new)

    def _rows_to_embed(self, tracks: Detections, ids: list[int], shape: tuple[int, ...]) -> list[int]:
        if self._embedder is None:
            return []
        pending = [r for r, t in enumerate(ids) if t in self._pending
                   and (not self._pending[t] or self._since_embed[t] >= self._cfg.pending_every_frames)]
        due = [r for r, t in enumerate(ids) if t in self._visitor and self._since_embed[t] >= self._cfg.embed_every_frames]
        if not pending and not due:
            return []  # most frames: nothing to embed, so no gate to compute either
        usable = tracks.heights >= self._cfg.min_crop_height_px
        if self._cfg.skip_poor_crops:
            usable &= usable_crops(tracks.xyxy, shape[1], shape[0])
        return [r for r in pending + due if usable[r]][: self._cfg.max_crops_per_frame]

    def _use_vector(self, track: int, vector: np.ndarray, now: float) -> None:
        self._since_embed[track] = 0
        if track in self._pending:
            self._pending[track].append(vector)
        else:
            self.gallery.update(self._visitor[track], self._camera, track, vector, now)

    def _due_decision(self, track: int) -> bool:
        if self._embedder is None:
            return True  # no re-ID: each track is its own visitor at once
        enough = len(self._pending[track]) >= self._cfg.embeddings_to_decide
        return enough or self._frames[track] >= self._cfg.decide_within_frames

    def _decide(self, track: int, now: float) -> None:
        vectors = self._pending.pop(track)
        mean = None
        if vectors:  # the track-level vector: mean of its usable crops
            total = np.sum(vectors, axis=0)
            mean = total / max(float(np.linalg.norm(total)), 1e-6)
        vid, is_new = self.gallery.assign(self._camera, track, mean, now, reserved=self._tentative.pop(track),
                                          since=self._born.get(track))
        self._visitor[track] = vid
        if is_new:
            self.new_visitors.append(vid)

    def end(self, track_ids: tuple[int, ...], ts: datetime) -> None:
        for t in track_ids:
            if t in self._pending:  # a short track still is someone: decide on the crops it had
                self._decide(t, ts.timestamp())
            self._since_embed.pop(t, None)
            self._frames.pop(t, None)
            self._born.pop(t, None)
            vid = self._visitor.pop(t, None)
            if vid is not None:
                self.gallery.release(self._camera, t, vid, ts.timestamp())
