"""Which person crops are worth an embedding: whole (not cut by the frame border), mostly unoccluded
by another person's box, and shaped like a standing person. A partial view embeds far from the same
person's full view, so such crops are skipped rather than averaged in.
"""

from __future__ import annotations

import numpy as np

BORDER_PX = 2.0  # a box edge this close to the frame edge is cut off
MAX_COVERED = 0.3  # skip a crop when another person's box covers more than this share of it
ASPECT = (1.6, 5.0)  # height / width of a standing, whole person


def usable_crops(xyxy: np.ndarray, width: int, height: int, max_covered: float = MAX_COVERED) -> np.ndarray:
    """Bool per row of `xyxy` (one frame's person boxes)."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    inside = ((xyxy[:, 0] > BORDER_PX) & (xyxy[:, 1] > BORDER_PX)
              & (xyxy[:, 2] < width - BORDER_PX) & (xyxy[:, 3] < height - BORDER_PX))
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    aspect = h / np.maximum(w, 1e-6)
    shaped = (aspect >= ASPECT[0]) & (aspect <= ASPECT[1])
    return inside & shaped & (covered_share(xyxy) <= max_covered)


def covered_share(xyxy: np.ndarray) -> np.ndarray:
    """For each box, the largest share of its area that any single other box overlaps."""
    lt = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    rb = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    np.fill_diagonal(inter, 0)
    area = np.prod(np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None), axis=1)
    return inter.max(axis=1, initial=0) / np.maximum(area, 1e-6)
