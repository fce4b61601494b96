"""Constant-velocity Kalman filter on the box corners (x1, y1, x2, y2), ByteTrack's motion model.

The noise is ByteTrack's tuning in pixels (measurements trusted, velocity changing slowly). Noise
scaled by box height was tried and tracked worse on TUD-Campus and its variants at every scale.
"""

from __future__ import annotations

import numpy as np

_MEASURE_VAR = 0.1  # ByteTrack: R = 0.1 I, Q = 0.01 I, P0 = I (pixels squared)
_PROCESS_VAR = 0.01
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


class BoxKalman:
    """One track's state; `predict()` each frame, `update(box)` when a detection is matched."""

    def __init__(self, box: np.ndarray) -> None:
        box = np.asarray(box, np.float64)
        self.mean = np.r_[box, np.zeros(4)]
        self.cov = np.eye(8)

    def predict(self) -> None:
        self.mean = _F @ self.mean
        self.cov = _F @ self.cov @ _F.T + np.eye(8) * _PROCESS_VAR

    def update(self, box: np.ndarray) -> None:
        box = np.asarray(box, np.float64)
        s = _H @ self.cov @ _H.T + np.eye(4) * _MEASURE_VAR
        gain = np.linalg.solve(s, _H @ self.cov).T
        self.mean = self.mean + gain @ (box - _H @ self.mean)
        self.cov = self.cov - gain @ s @ gain.T

    @property
    def box(self) -> np.ndarray:
        return self.mean[:4].copy()
