"""Tracking quality against ground truth with py-motmetrics: ID switches, IDF1, MOTA.

A box matches a ground-truth person at IoU >= 0.5 (the MOTChallenge rule). Track boxes lying on a
distractor (a static person, a reflection) are removed before scoring, as the MOTChallenge
evaluation does, so they count neither as hits nor as false positives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from edge_agent.audit.groundtruth import GroundTruth
from edge_agent.detect.boxes import box_iou

log = logging.getLogger(__name__)

MIN_IOU = 0.5

FrameIds = dict[int, tuple[np.ndarray, np.ndarray]]  # 1-based frame -> (ids, xyxy) of what the product tracked


@dataclass(frozen=True)
class TrackingScore:
    frames: int
    id_switches: int
    idf1: float
    mota: float
    fragmentations: int
    gt_ids: int
    ids: int  # distinct ids the product used

    def as_dict(self) -> dict:
        return {"frames": self.frames, "id_switches": self.id_switches, "idf1": round(self.idf1, 4),
                "mota": round(self.mota, 4), "fragmentations": self.fragmentations, "gt_ids": self.gt_ids,
                "ids": self.ids}


def score(tracked: FrameIds, gt: GroundTruth, frames: int) -> TrackingScore:
    """Score frames 1..`frames` (ground truth past the video's end is not held against the product)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    used: set[int] = set()
    people: set[int] = set()
    for number in range(1, frames + 1):
        truth = gt.frame(number)
        ids, boxes = tracked.get(number, (np.zeros(0, np.int64), np.zeros((0, 4))))
        keep = ~_on_distractors(truth.xyxy, truth.distractors, boxes)
        ids, boxes = np.asarray(ids)[keep], np.asarray(boxes).reshape(-1, 4)[keep]
        used.update(int(i) for i in ids)
        people.update(int(i) for i in truth.ids)
        acc.update(truth.ids.tolist(), ids.tolist(), iou_distance(truth.xyxy, boxes))
    m = mm.metrics.create().compute(acc, metrics=["num_switches", "idf1", "mota", "num_fragmentations"], name="a")
    row = m.iloc[0]
    return TrackingScore(frames, int(row["num_switches"]), _finite(row["idf1"]), _finite(row["mota"]),
                         int(row["num_fragmentations"]), len(people), len(used))


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


def iou_distance(a: np.ndarray, b: np.ndarray, min_iou: float = MIN_IOU) -> np.ndarray:
    """1 - IoU, NaN (no match possible) below `min_iou` (motmetrics' own helper uses a removed numpy API)."""
    iou = box_iou(a, b)
    return np.where(iou >= min_iou, 1 - iou, np.nan)


def _on_distractors(people: np.ndarray, distractors: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per track box: matched (one-to-one, IoU >= 0.5) to a distractor rather than to a person."""
    from scipy.optimize import linear_sum_assignment

    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros(len(boxes), bool)
    if len(distractors) == 0 or len(boxes) == 0:
        return out
    truth = np.concatenate([people, distractors])
    iou = box_iou(truth, boxes)
    rows, cols = linear_sum_assignment(-np.where(iou >= MIN_IOU, iou, 0))
    hit = iou[rows, cols] >= MIN_IOU
    out[cols[hit & (rows >= len(people))]] = True
    return out
