"""Tracking and re-ID quality on real media: ID switches against MOTChallenge ground truth, and
cosine separation of same-person vs different-person crops. Used by `storelens bench` and tests.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.sources.video import decoded_images
from edge_agent.tracking.embedder import ReidEmbedder
from edge_agent.tracking.quality import usable_crops
from edge_agent.tracking.tracker import PersonTracker
from edge_agent.types import Detections

log = logging.getLogger(__name__)


def load_mot_gt(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """frame (1-based) -> (ids, xyxy) of the pedestrians in a MOTChallenge gt file; flags and bad lines are
    handled by the audit's loader (edge_agent/audit/groundtruth.py)."""
    from edge_agent.audit.groundtruth import load_ground_truth

    return {n: (f.ids, f.xyxy) for n, f in load_ground_truth(path).frames.items()}


@dataclass(frozen=True)
class TrackingScore:
    frames: int
    id_switches: int
    mota: float
    idf1: float
    gt_ids: int
    track_ids: int


def track_video(video: Path, detector, tracker: PersonTracker, max_frames: int | None = None,
                progress: Callable[[], None] | None = None) -> list[Detections]:
    """Tracked people per frame of a video file; `progress()` after each frame."""
    out: list[Detections] = []
    for image in itertools.islice(decoded_images(video), max_frames):
        out.append(tracker.update(detector(image)))
        if progress is not None:
            progress()
    return out


def score_tracks(tracks: list[Detections], gt: dict[int, tuple[np.ndarray, np.ndarray]]) -> TrackingScore:
    """CLEAR-MOT and ID metrics with py-motmetrics (IoU >= 0.5 to match)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    seen: set[int] = set()
    for i, frame_tracks in enumerate(tracks, start=1):
        gt_ids, gt_boxes = gt.get(i, (np.zeros(0, int), np.zeros((0, 4))))
        ids = frame_tracks.tracker_id.tolist() if frame_tracks.tracker_id is not None else []
        seen.update(ids)
        acc.update(gt_ids.tolist(), ids, _iou_distance(gt_boxes, frame_tracks.xyxy))
    summary = mm.metrics.create().compute(acc, metrics=["num_switches", "mota", "idf1"], name="v")
    gt_ids = {int(i) for k in range(1, len(tracks) + 1) for i in gt.get(k, (np.zeros(0),))[0]}
    return TrackingScore(len(tracks), int(summary["num_switches"].iloc[0]), float(summary["mota"].iloc[0]),
                         float(summary["idf1"].iloc[0]), len(gt_ids), len(seen))


def _iou_distance(a: np.ndarray, b: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """1 - IoU, NaN (no match possible) below `min_iou`. motmetrics' own helper uses a removed numpy API."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    iou = inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)
    return np.where(iou >= min_iou, 1 - iou, np.nan)


@dataclass(frozen=True)
class ReidSeparation:
    same: float  # cosine of the two views of one person
    different: list[float]  # cosines between different people

    @property
    def margin(self) -> float:
        return self.same - max(self.different)


def reid_separation(embedder: ReidEmbedder, pair: tuple[np.ndarray, np.ndarray],
                    frames: list[np.ndarray], detector, min_height: int = 60,
                    usable_only: bool = False) -> ReidSeparation:
    """Same-person pair vs every pair of distinct detected people within each frame; with
    `usable_only`, only crops the identity stage would embed (whole, mostly unoccluded: tracking/quality.py)."""
    a, b = (embedder.embed(img, np.array([[0, 0, img.shape[1], img.shape[0]]], np.float32))[0] for img in pair)
    different = []
    for frame in frames:
        people = detector(frame)
        people = people.filter(people.heights >= min_height)
        if usable_only:
            people = people.filter(usable_crops(people.xyxy, frame.shape[1], frame.shape[0]))
        vecs = embedder.embed(frame, people.xyxy)
        sims = vecs @ vecs.T
        different += sims[np.triu_indices(len(vecs), k=1)].tolist()
    return ReidSeparation(float(a @ b), different)
