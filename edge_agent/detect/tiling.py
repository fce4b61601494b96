"""Tiled person detection: small people in wide frames, seen by the same small network.

A 416-pixel network sees a 1280x720 frame shrunk to a third: people far from the camera shrink
below what it can find. Here the frame is also cut into overlapping square tiles (the frame's
height, or half of it with `rows: 2`), each run through the backend at its own input size, plus
the whole frame (for people too big for a tile). Each pass answers for its own scale: a tile keeps
only boxes shorter than `max_tile_height` of its side (a taller box in a tile is a piece of
someone the full frame sees whole). Boxes go back to frame pixels and are merged: NMS across all
passes, then a box that a tile edge cut (it touches an inner tile border) is dropped when another
box holds most of it (the same person, seen whole by the neighbouring tile or the full frame). Cost grows with the number of passes: `storelens bench persons` prints ms per frame.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from edge_agent.detect.boxes import nms
from edge_agent.types import Detections
from storelens.config.detect import TilingConfig

log = logging.getLogger(__name__)

EDGE_PX = 2.0  # a box this close to an inner tile border was cut by it
CUT_CONTAINED = 0.6  # a cut box mostly (by its own area) inside another box is that person's part


def tile_layout(width: int, height: int, cfg: TilingConfig) -> list[tuple[int, int, int, int]]:
    """Square tiles (x1, y1, x2, y2) covering the frame with at least `overlap` between neighbours."""
    side = min(width, height) / (cfg.rows - cfg.overlap * (cfg.rows - 1))
    side = int(math.ceil(min(side, width, height)))
    cols = max(1, math.ceil((width - side) / (side * (1 - cfg.overlap)) - 1e-9) + 1)
    rows = max(1, math.ceil((height - side) / (side * (1 - cfg.overlap)) - 1e-9) + 1)
    xs = np.linspace(0, width - side, cols).round().astype(int) if cols > 1 else np.array([0])
    ys = np.linspace(0, height - side, rows).round().astype(int) if rows > 1 else np.array([0])
    return [(int(x), int(y), int(x) + side, int(y) + side) for y in ys for x in xs]


class TiledDetector:
    """Wraps a backend (frame -> Detections): full frame plus tiles, merged, in frame pixels."""

    def __init__(self, backend, cfg: TilingConfig, nms_threshold: float) -> None:
        self._backend = backend
        self._cfg = cfg
        self._nms = nms_threshold

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        h, w = frame_bgr.shape[:2]
        if w < self._cfg.min_frame_width:
            return self._backend(frame_bgr)
        boxes, scores, cut = [], [], []
        passes = [(0, 0, w, h)] if self._cfg.full_frame else []
        for x1, y1, x2, y2 in passes + tile_layout(w, h, self._cfg):
            found = self._backend(np.ascontiguousarray(frame_bgr[y1:y2, x1:x2]))
            if (x2 - x1, y2 - y1) != (w, h) and self._cfg.full_frame:
                found = found.filter(found.heights <= self._cfg.max_tile_height * (y2 - y1))
            xyxy = found.xyxy + np.array([x1, y1, x1, y1], np.float32)
            boxes.append(xyxy)
            scores.append(found.confidence)
            cut.append(_cut_by_tile(xyxy, (x1, y1, x2, y2), w, h))
        return _merge(np.concatenate(boxes), np.concatenate(scores), np.concatenate(cut), self._nms)


def _cut_by_tile(xyxy: np.ndarray, tile: tuple[int, int, int, int], width: int, height: int) -> np.ndarray:
    """Per box: touches a tile border that is not also the frame's border."""
    x1, y1, x2, y2 = tile
    out = np.zeros(len(xyxy), bool)
    for value, col, inner in ((x1, 0, x1 > 0), (y1, 1, y1 > 0), (x2, 2, x2 < width), (y2, 3, y2 < height)):
        if inner:
            out |= np.abs(xyxy[:, col] - value) <= EDGE_PX
    return out


def _merge(xyxy: np.ndarray, scores: np.ndarray, cut: np.ndarray, iou_thr: float) -> Detections:
    keep = nms(xyxy, scores, 0.0, iou_thr)
    xyxy, scores, cut = xyxy[keep], scores[keep], cut[keep]
    drop = np.zeros(len(xyxy), bool)
    if cut.any():
        inside = _contained(xyxy)  # [i, j]: share of box i's area inside box j
        for i in np.flatnonzero(cut):
            others = np.flatnonzero(~drop & (np.arange(len(xyxy)) != i))
            drop[i] = bool(len(others)) and inside[i, others].max() >= CUT_CONTAINED
    xyxy, scores = xyxy[~drop], scores[~drop]
    return Detections(xyxy=xyxy, confidence=scores, class_id=np.zeros(len(xyxy), np.int32))


def _contained(xyxy: np.ndarray) -> np.ndarray:
    lt = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    rb = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(np.clip(xyxy[:, 2:] - xyxy[:, :2], 0, None), axis=1)
    return inter / np.maximum(area[:, None], 1e-6)
