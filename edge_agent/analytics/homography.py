"""Image-to-floor mapping: a homography fitted to four or more calibration point pairs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from storelens.config.analytics import HomographyConfig
from storelens.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FloorMapper:
    matrix: np.ndarray  # 3x3 image pixels -> floor metres
    width_m: float
    height_m: float
    reprojection_error_m: float  # RMS distance between mapped image points and their floor points

    @classmethod
    def calibrate(cls, cfg: HomographyConfig) -> FloorMapper:
        src = np.asarray(cfg.image_points, np.float64)
        dst = np.asarray(cfg.floor_points, np.float64)
        matrix, _ = cv2.findHomography(src, dst, 0)  # least squares over all pairs, no outlier rejection
        if matrix is None or abs(np.linalg.det(matrix)) < 1e-12:
            raise ConfigError("edge.analytics.homography: points are degenerate (collinear or repeated)")
        error = float(np.sqrt(np.mean(np.sum((_apply(matrix, src) - dst) ** 2, axis=1))))
        log.info("floor homography from %d point pairs: reprojection error %.3f m (RMS)", len(src), error)
        return cls(matrix, cfg.floor_width_m, cfg.floor_height_m, error)

    @classmethod
    def pixels(cls, width_px: int, height_px: int, px_per_m: float = 100.0) -> FloorMapper:
        """No calibration: image pixels scaled to a nominal floor (1 px = 1 cm)."""
        matrix = np.diag([1 / px_per_m, 1 / px_per_m, 1.0])
        return cls(matrix, width_px / px_per_m, height_px / px_per_m, 0.0)

    def to_floor(self, points: np.ndarray) -> np.ndarray:
        return _apply(self.matrix, np.asarray(points, np.float64).reshape(-1, 2))


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.zeros((0, 2))
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2), matrix).reshape(-1, 2)
