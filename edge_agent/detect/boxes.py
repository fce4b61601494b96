"""Box helpers shared by the detectors, the benchmarks and the evaluations (xyxy pixel boxes)."""

from __future__ import annotations

import cv2
import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(xyxy: np.ndarray, scores: np.ndarray, score_thr: float, iou_thr: float) -> np.ndarray:
    """Indices kept by OpenCV's NMS, best score first (OpenCV expects x, y, w, h boxes)."""
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), score_thr, iou_thr)
    return np.asarray(keep, np.int64).reshape(-1)
