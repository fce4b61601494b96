"""Where benchmark media live and how they are read; matching found faces to reference faces."""

from __future__ import annotations

import numpy as np

from edge_agent.faces import read_image

__all__ = ["FACE_IMAGES", "box_iou", "matched", "read_image"]

FACE_IMAGES = ("t1.jpg", "astronaut.png", "ultraface_imgs_6.jpg", "ultraface_imgs_11.jpg")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def matched(reference: np.ndarray, found: np.ndarray, iou: float = 0.5) -> int:
    """How many reference boxes have a found box with IoU >= iou (recall numerator)."""
    if len(reference) == 0 or len(found) == 0:
        return 0
    return int((box_iou(reference, found).max(axis=1) >= iou).sum())
