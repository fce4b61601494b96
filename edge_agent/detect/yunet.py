"""YuNet face detector through OpenCV's cv2.FaceDetectorYN (the default face backend)."""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from edge_agent.models import resolve_model
from edge_agent.types import Detections
from storelens.config.detect import YuNetConfig
from storelens.config.models import ModelsConfig

log = logging.getLogger(__name__)


def from_yunet(raw: np.ndarray | None, scale: float = 1.0) -> Detections:
    """Convert FaceDetectorYN rows [x, y, w, h, 10 landmark coords, score] to Detections.

    `scale` maps detector-input pixels back to frame pixels (frame = input * scale).
    """
    if raw is None or len(raw) == 0:
        return Detections(xyxy=np.zeros((0, 4), np.float32), landmarks=np.zeros((0, 5, 2), np.float32))
    raw = np.asarray(raw, dtype=np.float32)
    xyxy = np.concatenate([raw[:, :2], raw[:, :2] + raw[:, 2:4]], axis=1) * scale
    landmarks = raw[:, 4:14].reshape(-1, 5, 2) * scale
    return Detections(xyxy=xyxy, confidence=raw[:, 14], landmarks=landmarks)


def shrink_to_width(frame: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    """A copy no wider than `width` and the factor that maps its pixels back to the frame's."""
    h, w = frame.shape[:2]
    if w <= width:
        return frame, 1.0
    scale = w / width
    small = cv2.resize(frame, (width, max(1, round(h / scale))), interpolation=cv2.INTER_AREA)
    return small, w / small.shape[1]


_QUIET_LOCK = threading.Lock()


class YuNetDetector:
    """Faces with 5 landmarks in frame pixels; frames wider than `input_width` are detected shrunk."""

    def __init__(self, cfg: YuNetConfig, models_cfg: ModelsConfig) -> None:
        self.cfg = cfg
        path = resolve_model(cfg.model, models_cfg)
        # OpenCV 5's DNN warns once per net, on its first forward pass, that its new engine ignores
        # targets; the warning is noise here. Run that first pass now, on a blank image, while quiet.
        # OpenCV's log level is process-wide: cameras built in parallel threads take turns here.
        with _QUIET_LOCK:
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            try:
                self._net = cv2.FaceDetectorYN.create(
                    str(path), "", (32, 32), cfg.score_threshold, cfg.nms_threshold, cfg.top_k
                )
                self._net.detect(np.zeros((32, 32, 3), np.uint8))
            finally:
                cv2.utils.logging.setLogLevel(level)
        self._size: tuple[int, int] | None = (32, 32)
        log.info(
            "face detector yunet (%s) runs on OpenCV DNN, CPU, input width <= %d", path.name, cfg.input_width
        )

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        small, scale = shrink_to_width(frame_bgr, self.cfg.input_width)
        size = (small.shape[1], small.shape[0])
        if size != self._size:  # setInputSize rebuilds anchors; only when the frame size changes
            self._net.setInputSize(size)
            self._size = size
        _, raw = self._net.detect(np.ascontiguousarray(small))
        return from_yunet(raw, scale)
