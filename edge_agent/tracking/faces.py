"""Faces belong to visitors: each face goes to the person whose box holds it near the top, and a
visitor's age is voted over all of its good-quality faces (weighted by quality and the age model's
stated uncertainty), so each visitor adds one age, with an interval that says how sure it is.
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


# Share of a face's age error that every face of the same visitor repeats (the person looks older or
# younger than they are to the model; their faces are not independent draws). Measured 0.80 (0.85 with
# the mirror view) on utk_decades faces seen 8 times each with jitter in size, roll, light, blur and
# JPEG (`storelens bench age --visitors 8`): more faces barely shrink the error, so the interval must
# not shrink much either. Real views also differ in pose and expression, which makes their errors more
# independent than the simulation's; this value therefore errs towards intervals too wide, not too narrow.
SHARED_ERROR_FRACTION = 0.85
# A face's stated half-width is divided by quality ** QUALITY_POWER (quality floored at MIN_QUALITY):
# a poorer face counts less and widens the visitor's interval more. On those jittered faces the stated
# 80 % interval held the true age for 73 % of faces; with this widening 80 % (|error| / stated half-width
# rose from 0.68 at quality 0.95+ to 0.92 below 0.6).
QUALITY_POWER = 1.0
MIN_QUALITY = 0.25
FALLBACK_HALF_WIDTH = 10.0  # years, for faces whose age stage gives no interval (all weigh the same)
MIN_HALF_WIDTH = 0.5


@dataclass(frozen=True)
class VisitorAge:
    """One visitor's age over all their good faces; the interval has the per-face interval's level."""

    age: float
    low: float
    high: float
    faces: int


@dataclass
class _Votes:
    """Running sums over a visitor's good faces, weight w = 1 / half^2 each."""

    reference: float = float("nan")  # the first face's age: sums hold offsets from it, so identical
    weight: float = 0.0  # ages give exactly that age (no float drift into the histogram bin below)
    weighted_offset: float = 0.0  # sum of w * (age - reference)
    weighted_half: float = 0.0  # sum of w * half
    faces: int = 0

    def add(self, age: float, half: float) -> None:
        if self.faces == 0:
            self.reference = age
        w = 1.0 / (half * half)
        self.weight += w
        self.weighted_offset += w * (age - self.reference)
        self.weighted_half += w * half
        self.faces += 1


def face_half_widths(faces: Detections) -> np.ndarray:
    """Each face's interval half-width in years, widened for poor quality (the vote's uncertainty)."""
    n = len(faces)
    if "age_low" in faces.data and "age_high" in faces.data:
        half = (np.asarray(faces.data["age_high"], np.float64) - np.asarray(faces.data["age_low"], np.float64)) / 2
        half = np.where(np.isfinite(half), np.maximum(half, MIN_HALF_WIDTH), FALLBACK_HALF_WIDTH)
    else:
        half = np.full(n, FALLBACK_HALF_WIDTH)
    if "quality" in faces.data:
        quality = np.nan_to_num(np.asarray(faces.data["quality"], np.float64), nan=1.0)
        half = half / np.clip(quality, MIN_QUALITY, 1.0) ** QUALITY_POWER
    return half


def combine(ages: np.ndarray, halves: np.ndarray, shared: float = SHARED_ERROR_FRACTION) -> VisitorAge:
    """The vote over one visitor's faces (see AgeVotes); NaN without faces."""
    votes = _Votes()
    for age, half in zip(ages, halves, strict=True):
        votes.add(float(age), float(half))
    return _visitor_age(votes, shared)


def _visitor_age(votes: _Votes | None, shared: float) -> VisitorAge:
    """Inverse-variance mean of the faces' ages. Each face's error = a part that scales with its
    half-width and is common to all of the visitor's faces (`shared` of its variance) + its own part;
    the mean keeps all of the common part and averages the own parts down. On simulated visitors the
    80 % interval held the truth for 0.80, 0.80, 0.79, 0.78 of them with 1, 2, 4, 8 faces
    (`storelens bench age --visitors 8`).
    A much poorer face gets little weight but still moves the mean, so it can widen the interval a little."""
    if votes is None or votes.faces == 0:
        return VisitorAge(float("nan"), float("nan"), float("nan"), 0)
    age = votes.reference + votes.weighted_offset / votes.weight
    mean_half = votes.weighted_half / votes.weight
    half = float(np.sqrt(shared * mean_half**2 + (1.0 - shared) / votes.weight))
    return VisitorAge(float(age), max(age - half, 0.0), age + half, votes.faces)


class AgeVotes:
    """Per-visitor age from all of the visitor's good faces, each weighted by how sure it is.

    A face counts with weight 1 / half^2, half = its interval half-width (edge.age.interval_level)
    divided by its quality score: the model's own doubt and the face's quality both lower its say.
    The visitor's interval shrinks as good faces add up, but never below the error all faces of one
    person share (SHARED_ERROR_FRACTION). `update(persons, faces)` returns persons with
    data["age"], ["age_low"], ["age_high"]; `pop(visitor)` gives the final age when the visit closes.
    """

    def __init__(self, shared_error_fraction: float = SHARED_ERROR_FRACTION) -> None:
        if not 0.0 <= shared_error_fraction <= 1.0:
            raise ValueError(f"shared_error_fraction must be within 0..1, got {shared_error_fraction}")
        self._shared = shared_error_fraction
        self._votes: dict[int, _Votes] = {}
        self.faces_seen = 0
        self.faces_low_quality = 0

    def wanted(self, persons: Detections, faces: Detections, max_faces: int) -> np.ndarray:
        """Faces worth an age estimate: they belong to a decided visitor whose vote holds fewer than
        `max_faces` faces (0: no limit). Any other face's age would never be voted, and beyond a few
        good faces a visitor's age barely moves (`bench age --visitors`: 6.46 y with 1 face, 6.25 with
        4 or 8), so the age model runs a few times per visitor instead of on every frame they are in."""
        owner = associate(persons, faces)
        visitors = np.asarray(persons.data.get("visitor", np.full(len(persons), -1)))
        vid = np.where(owner >= 0, visitors[np.maximum(owner, 0)] if len(persons) else -1, -1)
        if max_faces <= 0:
            return vid >= 0
        counts = np.array([self._votes[v].faces if v in self._votes else 0 for v in vid.tolist()], np.int64)
        return (vid >= 0) & (counts < max_faces)

    def update(self, persons: Detections, faces: Detections) -> Detections:
        self.faces_seen += len(faces)
        good = self._good(faces)
        passed = np.asarray(faces.data["quality_ok"], bool) if "quality_ok" in faces.data else good
        self.faces_low_quality += int(len(faces) - passed.sum())  # the gate's verdict, not a skipped age
        owner = associate(persons, faces)
        visitors = persons.data.get("visitor", np.full(len(persons), -1))
        halves = face_half_widths(faces)
        for f in np.flatnonzero(good & (owner >= 0)):
            vid = int(visitors[owner[f]])
            if vid >= 0:
                self._votes.setdefault(vid, _Votes()).add(float(faces.data["age"][f]), float(halves[f]))
        voted = [self.estimate(int(v)) for v in visitors]
        return persons.with_data(
            age=np.array([v.age for v in voted], np.float64),
            age_low=np.array([v.low for v in voted], np.float64),
            age_high=np.array([v.high for v in voted], np.float64),
        )

    @staticmethod
    def _good(faces: Detections) -> np.ndarray:
        """Faces the age stage estimated (it leaves NaN where the quality gate said no)."""
        if "age" not in faces.data:
            return np.zeros(len(faces), bool)
        return np.isfinite(np.asarray(faces.data["age"], np.float64))

    def estimate(self, vid: int) -> VisitorAge:
        """The visitor's voted age and interval; NaN without a good face."""
        return _visitor_age(self._votes.get(vid), self._shared)

    def age_of(self, vid: int) -> float:
        return self.estimate(vid).age

    def pop(self, vid: int) -> float:
        age = self.age_of(vid)
        self._votes.pop(vid, None)
        return age

    def take_face_counts(self) -> tuple[int, int]:
        counts = (self.faces_seen, self.faces_low_quality)
        self.faces_seen = self.faces_low_quality = 0
        return counts
