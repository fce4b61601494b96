"""The re-ID gallery: visitors' appearance vectors in RAM, each forgotten `ttl_s` after last seen.

One gallery per camera, or one per store shared by its cameras (thread-safe), so a visitor who
leaves the view and comes back within a visit, or walks to another camera, keeps one identity.
Identities are process-local integers; neither they nor the vectors ever leave the process.

A visitor keeps a few prototypes, one per track (a running mean of that track's embeddings), and a
new track matches on the best of them: a visitor seen from the front on entry and from the back at
the shelf stays recognisable from either side, where one blended mean would resemble neither.
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
    prototypes: dict[tuple[str, int], np.ndarray]  # (camera, track) -> running mean, unit length
    last_seen: float  # epoch seconds
    owner: str  # camera that first saw the visitor (it counts the visitor)
    busy_on: dict[tuple[str, int], float]  # (camera, track) live tracks that are this visitor -> last sighting

    def seen_since(self, since: float | None) -> bool:
        """Was this visitor in view at or after `since` (any live track at all when `since` is None)?"""
        if since is None:
            return bool(self.busy_on)
        return any(last >= since for last in self.busy_on.values())

    def similarity(self, vector: np.ndarray) -> float:
        return max((float(np.dot(p, vector)) for p in self.prototypes.values()), default=-1.0)


class ReidGallery:
    def __init__(self, ttl_s: float, match_threshold: float, max_prototypes: int = 3,
                 ambiguity_margin: float = 0.0) -> None:
        self.ttl_s = ttl_s
        self.match_threshold = match_threshold
        self.max_prototypes = max_prototypes
        self.ambiguity_margin = ambiguity_margin
        self._entries: dict[int, _Entry] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def reserve(self, camera: str, track: int, now: float) -> int:
        """A tentative id for a new track while it collects embeddings: busy, without prototypes,
        so nothing can match it. `assign(..., reserved=id)` later confirms or withdraws it."""
        with self._lock:
            vid = next(self._ids)
            self._entries[vid] = _Entry({}, now, camera, {(camera, track): now})
            return vid

    def assign(self, camera: str, track: int, vector: np.ndarray | None, now: float,
               reserved: int | None = None, since: float | None = None) -> tuple[int, bool]:
        """(visitor id, is_new) for a new track: the best free match above threshold, else a new visitor
        (the `reserved` tentative id when given; it is withdrawn when the track matches someone else).

        A visitor already walking on another live track is not a candidate: two people visible at
        once are two people, however alike they dress. With `since` (when the new track was first
        seen) "at once" means in view at or after that time: a track the tracker lost a moment ago
        and still holds in its buffer is not in view, so the same person's next fragment may join it
        (`seen` keeps the sightings; deciding before the old track ended used to make a second visitor).
        """
        with self._lock:
            self._expire(now)
            best, best_sim = self._best_free(vector, since)
            is_new = best is None
            if is_new:
                best = reserved if reserved in self._entries else next(self._ids)
                self._entries.setdefault(best, _Entry({}, now, camera, {}))
            else:
                self._entries.pop(reserved, None)
                log.debug("gallery: track %s/%d is returning visitor %d (cos %.2f)", camera, track, best, best_sim)
            entry = self._entries[best]
            entry.busy_on[(camera, track)] = now
            entry.last_seen = now
            if vector is not None:
                self._add_prototype(entry, (camera, track), vector)
            return best, is_new

    def _best_free(self, vector: np.ndarray | None, since: float | None) -> tuple[int | None, float]:
        """The free visitor most like `vector` above the threshold, unless a runner-up is within the
        ambiguity margin of it (then nobody: two look-alikes cannot both be this person, and merging
        the wrong one loses a visitor for good, while a new visitor at worst counts one twice)."""
        best, best_sim = None, self.match_threshold
        if vector is None:
            return best, best_sim  # without a vector (no usable crop) a track can only be a new visitor
        second = -1.0
        for vid, entry in self._entries.items():
            if entry.seen_since(since):
                continue
            sim = entry.similarity(vector)
            if sim >= best_sim:
                best, best_sim, second = vid, sim, best_sim if best is not None else second
            elif sim > second:
                second = sim
        if best is not None and best_sim - second < self.ambiguity_margin:
            log.debug("gallery: match %d (cos %.2f) is ambiguous (runner-up %.2f): a new visitor", best, best_sim, second)
            return None, best_sim
        return best, best_sim

    def _add_prototype(self, entry: _Entry, key: tuple[str, int], vector: np.ndarray) -> None:
        entry.prototypes[key] = vector.copy()
        while len(entry.prototypes) > self.max_prototypes:  # dicts keep insertion order: drop the oldest
            del entry.prototypes[next(iter(entry.prototypes))]

    def update(self, vid: int, camera: str, track: int, vector: np.ndarray, now: float, weight: float = 0.2
               ) -> None:
        """Blend a fresh embedding into this track's prototype of the visitor (views change as people turn)."""
        with self._lock:
            entry = self._entries.get(vid)
            if entry is None:
                return
            entry.last_seen = now
            old = entry.prototypes.get((camera, track))
            if old is None:
                self._add_prototype(entry, (camera, track), vector)
                return
            mixed = (1 - weight) * old + weight * vector
            entry.prototypes[(camera, track)] = mixed / max(float(np.linalg.norm(mixed)), 1e-6)

    def release(self, camera: str, track: int, vid: int, now: float) -> None:
        """The track ended: the visitor may now be matched by a later track, until the TTL runs out."""
        with self._lock:
            entry = self._entries.get(vid)
            if entry is not None:
                entry.busy_on.pop((camera, track), None)
                entry.last_seen = now

    def seen(self, camera: str, sightings: list[tuple[int, int]], now: float) -> None:
        """(track, visitor) pairs in view at `now`: they block look-alike matches (see `assign`)."""
        with self._lock:
            for track, vid in sightings:
                entry = self._entries.get(vid)
                if entry is not None and (camera, track) in entry.busy_on:
                    entry.busy_on[(camera, track)] = now
                    entry.last_seen = now

    def split(self, camera: str, track: int, vid: int, now: float) -> int:
        """Take a track away from visitor `vid` into a new visitor of its own (it proved to be someone
        else: seen beside the visitor's other track in one frame). Its prototype goes with it."""
        with self._lock:
            entry = self._entries.get(vid)
            proto = entry.prototypes.pop((camera, track), None) if entry else None
            if entry is not None:
                entry.busy_on.pop((camera, track), None)
            new = next(self._ids)
            self._entries[new] = _Entry({} if proto is None else {(camera, track): proto}, now, camera,
                                        {(camera, track): now})
            return new

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
