"""Face detector factory (backend chosen by config `type`) and merging of two detection passes."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edge_agent.detect.boxes import nms
from edge_agent.types import Detections
from storelens.config.detect import FaceDetectorConfig, ScrfdConfig, YuNetConfig
from storelens.config.models import ModelsConfig


class FaceDetector(Protocol):
    def __call__(self, frame_bgr: np.ndarray) -> Detections: ...


def build_face_detector(cfg: FaceDetectorConfig, models_cfg: ModelsConfig) -> FaceDetector:
    """The configured backend, its model verified; raises ModelError with the fix in one line."""
    if isinstance(cfg, YuNetConfig):
        from edge_agent.detect.yunet import YuNetDetector

        return YuNetDetector(cfg, models_cfg)
    if isinstance(cfg, ScrfdConfig):
        from edge_agent.detect.scrfd import ScrfdDetector

        return ScrfdDetector(cfg, models_cfg)
    raise TypeError(f"unknown face detector config {type(cfg).__name__}")


def concat(first: Detections, second: Detections) -> Detections:
    """Rows of both (landmarks kept only when both have them; data columns must match)."""
    landmarks = None
    if first.landmarks is not None and second.landmarks is not None:
        landmarks = np.concatenate([first.landmarks, second.landmarks])
    return Detections(
        xyxy=np.concatenate([first.xyxy, second.xyxy]),
        confidence=np.concatenate([first.confidence, second.confidence]),
        class_id=np.concatenate([first.class_id, second.class_id]),
        landmarks=landmarks,
        data={k: np.concatenate([first.data[k], second.data[k]]) for k in first.data if k in second.data},
    )


def merge_passes(first: Detections, second: Detections, iou: float) -> Detections:
    """Faces from two passes over the same frame, one row per face (NMS by score across both)."""
    if len(second) == 0:
        return first
    both = concat(first, second)
    return both.filter(np.sort(nms(both.xyxy, both.confidence, 0.0, iou)))
