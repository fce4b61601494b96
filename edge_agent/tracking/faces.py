"""Faces belong to visitors: each face goes to the person whose box holds it near the top, and a
visitor's age is voted over all of its good-quality faces, so each visitor adds one age.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edge_agent.types import Detections

log = logging.getLogger(__name__)

HEAD_FRACTION = 0.4  # a face centre lies within the top 40% of its person's box


def associate(persons: Detections, faces: Detections) -> np.ndarray:
    """For each face, the row of the person it belongs to, or -1. One face per person (best score first)."""
    owner = np.full(len(faces), -1, np.int64)
    if len(persons) == 0 or len(faces) == 0:
        return owner
    px1, py1, px2, py2 = persons.xyxy.T
    head_bottom = py1 + HEAD_FRACTION * (py2 - py1)
    taken: set[int] = set()
    for f in np.argsort(-faces.confidence):
        cx, cy = faces.centers[f]
        inside = (px1 <= cx) & (cx <= px2) & (py1 <= cy) & (cy <= head_bottom)
        candidates = [p for p in np.flatnonzero(inside) if p not in taken]
        if not candidates:
            continue
        # Several boxes can hold one face (people overlap): the nearest top-centre wins.
        top_centres = np.stack([(px1 + px2) / 2, py1], axis=1)[candidates]
        best = candidates[int(np.argmin(np.linalg.norm(top_centres - (cx, cy), axis=1)))]
        owner[f] = best
        taken.add(best)
    return owner


@dataclass
class _Votes:
    probs: np.ndarray  # summed age distributions of the visitor's good faces
    faces: int = 0


class AgeVotes:
    """Per-visitor sum of age distributions. `update(persons, faces)` returns persons with data["age"]."""

    def __init__(self) -> None:
        self._votes: dict[int, _Votes] = {}
        self.faces_seen = 0
        self.faces_low_quality = 0

    def update(self, persons: Detections, faces: Detections) -> Detections:
        self.faces_seen += len(faces)
        good = self._good(faces)
        self.faces_low_quality += int(len(faces) - good.sum())
        owner = associate(persons, faces)
        visitors = persons.data.get("visitor", np.full(len(persons), -1))
        for f in np.flatnonzero(good & (owner >= 0)):
            vid = int(visitors[owner[f]])
            if vid >= 0:
                self._add(vid, np.asarray(faces.data["age_probs"][f], np.float64))
        return persons.with_data(age=np.array([self.age_of(int(v)) for v in visitors], np.float64))

    @staticmethod
    def _good(faces: Detections) -> np.ndarray:
        """Faces the age stage estimated (it leaves NaN where the quality gate said no)."""
        if "age" not in faces.data or "age_probs" not in faces.data:
            return np.zeros(len(faces), bool)
        return np.isfinite(np.asarray(faces.data["age"], np.float64))

    def _add(self, vid: int, probs: np.ndarray) -> None:
        votes = self._votes.get(vid)
        if votes is None:
            votes = self._votes[vid] = _Votes(np.zeros_like(probs))
        votes.probs = votes.probs + probs
        votes.faces += 1

    def age_of(self, vid: int) -> float:
        """The visitor's voted age (expected value of the summed distribution); NaN without a good face."""
        votes = self._votes.get(vid)
        if votes is None or votes.probs.sum() <= 0:
            return float("nan")
        p = votes.probs / votes.probs.sum()
        return float(np.dot(p, np.arange(len(p))))

    def pop(self, vid: int) -> float:
        age = self.age_of(vid)
        self._votes.pop(vid, None)
        return age

    def take_face_counts(self) -> tuple[int, int]:
        counts = (self.faces_seen, self.faces_low_quality)
        self.faces_seen = self.faces_low_quality = 0
        return counts
