"""SCRFD face detector through insightface's model zoo (opt-in: its weights are non-commercial)."""

from __future__ import annotations

import logging

import numpy as np

from edge_agent.models import available_providers, resolve_model
from edge_agent.types import Detections
from storelens.config.detect import ScrfdConfig
from storelens.config.models import ModelsConfig
from storelens.errors import ModelError

log = logging.getLogger(__name__)


def from_scrfd(det: np.ndarray, kps: np.ndarray | None) -> Detections:
    """Convert insightface SCRFD output (det [N, 5] = x1, y1, x2, y2, score; kps [N, 5, 2])."""
    det = np.asarray(det, dtype=np.float32).reshape(-1, 5)
    landmarks = None if kps is None else np.asarray(kps, dtype=np.float32).reshape(-1, 5, 2)
    return Detections(xyxy=det[:, :4], confidence=det[:, 4], landmarks=landmarks)


class ScrfdDetector:
    """insightface's SCRFD: it letterboxes each frame to `input_size` and maps boxes back itself."""

    def __init__(self, cfg: ScrfdConfig, models_cfg: ModelsConfig) -> None:
        path = resolve_model(cfg.model, models_cfg)  # refuses unless models.allow_noncommercial
        try:
            from insightface.model_zoo import model_zoo
        except ImportError as exc:
            raise ModelError(
                "face detector 'scrfd' needs insightface: pip install 'storelens[insightface]'"
            ) from exc
        providers = available_providers(list(models_cfg.providers))
        self._model = model_zoo.get_model(str(path), providers=providers)
        size = (cfg.input_size, cfg.input_size)
        self._model.prepare(
            ctx_id=-1, input_size=size, det_thresh=cfg.score_threshold, nms_thresh=cfg.nms_threshold
        )
        log.info("face detector scrfd (%s) runs on %s", path.name, self._model.session.get_providers()[0])

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        det, kps = self._model.detect(frame_bgr)
        return from_scrfd(det, kps)
