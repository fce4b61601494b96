"""Person detectors: YOLOX-nano (default) and NanoDet-m, both ONNX, both returning Detections.

Each backend turns a BGR frame into its network input, decodes its own output layout, and hands
back person boxes in the frame's pixels. Nothing downstream sees a backend's format.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_agent.detect.boxes import nms
from edge_agent.types import Detections

if TYPE_CHECKING:
    from storelens.config.detect import NanoDetConfig, PersonDetectorConfig, YoloxConfig
    from storelens.config.models import ModelsConfig

log = logging.getLogger(__name__)

PERSON_CLASS = 0  # COCO
_NANODET_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
_NANODET_STD = np.array([57.375, 57.12, 58.395], np.float32)


def _grid(size: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) cell coordinates and (K,) strides for square input `size`, row-major per stride."""
    cells, cell_strides = [], []
    for stride in strides:
        n = size // stride
        ys, xs = np.mgrid[0:n, 0:n]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        cell_strides.append(np.full(n * n, stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(cell_strides).astype(np.float32)


def _finish(xyxy: np.ndarray, scores: np.ndarray, shape: tuple[int, ...], cfg: PersonDetectorConfig) -> Detections:
    """NMS, clip to the frame, drop boxes too short to be a person at this camera."""
    keep = nms(xyxy, scores, cfg.score_threshold, cfg.nms_threshold)
    xyxy, scores = xyxy[keep], scores[keep]
    h, w = shape[:2]
    xyxy = np.clip(xyxy, 0, [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)
    tall = (xyxy[:, 3] - xyxy[:, 1]) >= cfg.min_height_px
    return Detections(xyxy=xyxy[tall], confidence=scores[tall], class_id=np.zeros(int(tall.sum()), np.int32))


class YoloxPersonDetector:
    """YOLOX-nano: letterbox to a square (pad 114), decode grid + strides, keep class person."""

    def __init__(self, session, cfg: YoloxConfig) -> None:
        self._session = session
        self._cfg = cfg
        self._input = session.get_inputs()[0].name
        self._cells, self._strides = _grid(cfg.input_size, (8, 16, 32))

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        blob, scale = self._letterbox(frame_bgr)
        out = self._session.run(None, {self._input: blob})[0][0]
        centres = (out[:, :2] + self._cells) * self._strides[:, None]
        sizes = np.exp(out[:, 2:4]) * self._strides[:, None]
        scores = out[:, 4] * out[:, 5 + PERSON_CLASS]
        mask = scores >= self._cfg.score_threshold
        xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)[mask] / scale
        return _finish(xyxy, scores[mask], frame_bgr.shape, self._cfg)

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        size = self._cfg.input_size
        h, w = frame.shape[:2]
        scale = min(size / h, size / w)
        resized = cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((size, size, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        return canvas.transpose(2, 0, 1)[None].astype(np.float32), scale


class NanoDetPersonDetector:
    """NanoDet-m (GFL head): per-stride class scores and distance distributions (reg_max 7)."""

    _STRIDES = (8, 16, 32)
    _REG_MAX = 7

    def __init__(self, session, cfg: NanoDetConfig) -> None:
        self._session = session
        self._cfg = cfg
        self._input = session.get_inputs()[0].name
        names = [o.name for o in session.get_outputs()]
        self._cls_names = sorted((n for n in names if n.startswith("cls")), key=_stride_of)
        self._dis_names = sorted((n for n in names if n.startswith("dis")), key=_stride_of)
        cells, strides = _grid(cfg.input_size, self._STRIDES)
        self._centres = (cells + 0.5) * strides[:, None]
        self._strides = strides

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        size = self._cfg.input_size
        h, w = frame_bgr.shape[:2]
        img = (cv2.resize(frame_bgr, (size, size)).astype(np.float32) - _NANODET_MEAN) / _NANODET_STD
        outs = self._session.run(self._cls_names + self._dis_names, {self._input: img.transpose(2, 0, 1)[None]})
        cls = np.concatenate([o[0] for o in outs[: len(self._STRIDES)]])[:, PERSON_CLASS]
        dis = np.concatenate([o[0] for o in outs[len(self._STRIDES):]])
        mask = cls >= self._cfg.score_threshold
        dist = self._integral(dis[mask]) * self._strides[mask, None]
        c = self._centres[mask]
        xyxy = np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1)
        xyxy *= np.array([w / size, h / size, w / size, h / size], np.float32)
        return _finish(xyxy, cls[mask], frame_bgr.shape, self._cfg)

    def _integral(self, dis: np.ndarray) -> np.ndarray:
        """Expected distance per side from each side's softmax over 0..reg_max bins."""
        bins = dis.reshape(-1, 4, self._REG_MAX + 1)
        bins = np.exp(bins - bins.max(axis=2, keepdims=True))
        bins /= bins.sum(axis=2, keepdims=True)
        return bins @ np.arange(self._REG_MAX + 1, dtype=np.float32)


def _stride_of(name: str) -> int:
    return int(name.rsplit("_", 1)[-1])


def build_person_detector(cfg: PersonDetectorConfig, models_cfg: ModelsConfig):
    """The configured backend, its model resolved (sha256-checked) and loaded."""
    from edge_agent.models import create_session, resolve_model

    session = create_session(resolve_model(cfg.model, models_cfg), models_cfg, name=cfg.model)
    if cfg.type == "yolox":
        return YoloxPersonDetector(session, cfg)
    return NanoDetPersonDetector(session, cfg)
