"""The re-ID gallery: visitors' appearance vectors in RAM, each forgotten `ttl_s` after last seen.

One gallery per camera, or one per store shared by its cameras (thread-safe), so a visitor who
leaves the view and comes back within a visit, or walks to another camera, keeps one identity.
Identities are process-local integers; neither they nor the vectors ever leave the process.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    vector: np.ndarray | None  # running mean of the visitor's unit embeddings, renormalised
    last_seen: float  # epoch seconds
    owner: str  # camera that first saw the visitor (it counts the visitor)
    busy_on: set[tuple[str, int]]  # (camera, track) live tracks that are this visitor now


class ReidGallery:
    def __init__(self, ttl_s: float, match_threshold: float) -> None:
        self.ttl_s = ttl_s
        self.match_threshold = match_threshold
        self._entries: dict[int, _Entry] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def assign(self, camera: str, track: int, vector: np.ndarray | None, now: float) -> tuple[int, bool]:
        """(visitor id, is_new) for a new track: the best free match above threshold, else a new visitor.

        A visitor already walking on another live track is not a candidate: two people visible at
        once are two people, however alike they dress.
        """
        with self._lock:
            self._expire(now)
            best, best_sim = None, self.match_threshold
            for vid, entry in self._entries.items():
                if entry.busy_on or entry.vector is None or vector is None:
                    continue  # without a vector (crop too small) a track can only be a new visitor
                sim = float(np.dot(entry.vector, vector))
                if sim >= best_sim:
                    best, best_sim = vid, sim
            is_new = best is None
            if is_new:
                best = next(self._ids)
                self._entries[best] = _Entry(None if vector is None else vector.copy(), now, camera, set())
            else:
                log.debug("gallery: track %s/%d is returning visitor %d (cos %.2f)", camera, track, best, best_sim)
            entry = self._entries[best]
            entry.busy_on.add((camera, track))
            entry.last_seen = now
            return best, is_new

    def update(self, vid: int, vector: np.ndarray, now: float, weight: float = 0.2) -> None:
        """Blend a fresh embedding into the visitor's vector (views change as people turn)."""
        with self._lock:
            entry = self._entries.get(vid)
            if entry is None:
                return
            if entry.vector is None:
                entry.vector, entry.last_seen = vector.copy(), now
                return
            mixed = (1 - weight) * entry.vector + weight * vector
            entry.vector = mixed / max(float(np.linalg.norm(mixed)), 1e-6)
            entry.last_seen = now

    def release(self, camera: str, track: int, vid: int, now: float) -> None:
        """The track ended: the visitor may now be matched by a later track, until the TTL runs out."""
        with self._lock:
            entry = self._entries.get(vid)
            if entry is not None:
                entry.busy_on.discard((camera, track))
                entry.last_seen = now

    def knows(self, vid: int) -> bool:
        return vid in self._entries

    def owner(self, vid: int) -> str | None:
        entry = self._entries.get(vid)
        return entry.owner if entry else None

    def expire(self, now: float) -> list[int]:
        with self._lock:
            return self._expire(now)

    def _expire(self, now: float) -> list[int]:
        gone = [v for v, e in self._entries.items() if not e.busy_on and now - e.last_seen > self.ttl_s]
        for vid in gone:
            del self._entries[vid]
        return gone
