"""Where benchmark media live and how they are read; matching found faces to reference faces."""

from __future__ import annotations

import numpy as np

from edge_agent.detect.boxes import box_iou
from edge_agent.faces import read_image

__all__ = ["FACE_IMAGES", "box_iou", "matched", "read_image"]

FACE_IMAGES = ("t1.jpg", "astronaut.png", "ultraface_imgs_6.jpg", "ultraface_imgs_11.jpg")


def matched(reference: np.ndarray, found: np.ndarray, iou: float = 0.5) -> int:
    """How many reference boxes have a found box with IoU >= iou (recall numerator)."""
    if len(reference) == 0 or len(found) == 0:
        return 0
    return int((box_iou(reference, found).max(axis=1) >= iou).sum())
