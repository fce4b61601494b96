"""Person re-ID embeddings from crops: OpenVINO retail-0287/0288 (default) or OSNet.

Crops are cut, resized and embedded in memory; the unit-length vectors go to the gallery and are
never written anywhere.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from storelens.config.models import ModelsConfig

log = logging.getLogger(__name__)

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


class ReidEmbedder:
    """`embed(frame, xyxy) -> (N, D)` L2-normalised appearance vectors."""

    def __init__(self, session, name: str, color_order: str = "bgr") -> None:
        self._session = session
        inp = session.get_inputs()[0]
        self._input = inp.name
        self._nhwc = inp.shape[-1] == 3  # OpenVINO retail models take NHWC 0-255 (BGR per their docs)
        self._swap_rb = self._nhwc and color_order == "rgb"
        self._fixed_batch = isinstance(inp.shape[0], int)
        self.name = name

    @classmethod
    def from_config(cls, model: str, models_cfg: ModelsConfig, color_order: str = "bgr") -> ReidEmbedder:
        from edge_agent.models import create_session, resolve_model

        return cls(create_session(resolve_model(model, models_cfg), models_cfg, name=model), model, color_order)

    def embed(self, frame_bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        if len(xyxy) == 0:
            return np.zeros((0, 0), np.float32)
        batch = np.stack([self._prepare(self._crop(frame_bgr, box)) for box in xyxy])
        if self._fixed_batch:  # retail-0287 is exported with batch 1
            out = np.concatenate([self._session.run(None, {self._input: b[None]})[0] for b in batch])
        else:
            out = self._session.run(None, {self._input: batch})[0]
        out = out.reshape(len(xyxy), -1).astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    @staticmethod
    def _crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        x1, y1, x2, y2 = np.round(box).astype(int)
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(w, max(x2, x1 + 1)), min(h, max(y2, y1 + 1))
        return frame[y1:y2, x1:x2]

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        img = cv2.resize(crop, (128, 256), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        if self._nhwc:
            return np.ascontiguousarray(img[:, :, ::-1]) if self._swap_rb else img
        rgb = img[:, :, ::-1] / 255.0
        return ((rgb - _IMAGENET_MEAN) / _IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-6))
