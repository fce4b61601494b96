"""Per-face quality: size, sharpness, pose (from the 5 landmarks) and brightness -> one score 0..1.

Age from a tiny, blurred, turned or badly lit face is noise; the gate keeps it out of the histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.types import Detections
from storelens.config.attributes import QualityGateConfig

_CROP = 64  # sharpness is measured on a fixed-size crop so it does not depend on face size


@dataclass(frozen=True)
class FaceMetrics:
    size_px: np.ndarray  # shorter box side
    sharpness: np.ndarray  # variance of the Laplacian on the 64x64 grey crop
    yaw_deg: np.ndarray
    roll_deg: np.ndarray
    brightness: np.ndarray  # mean luminance 0..1 of the box's central part


def pose_from_landmarks(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(yaw, roll) in degrees. Yaw from where the nose tip falls along the eye line: the nose tip sits
    about half an eye distance in front of the eyes, so its offset from the midpoint ~ tan(yaw)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    right_eye, left_eye, nose = lm[:, 0], lm[:, 1], lm[:, 2]
    axis = left_eye - right_eye
    length2 = np.maximum((axis**2).sum(1), 1e-9)
    t = ((nose - right_eye) * axis).sum(1) / length2  # 0.5 when frontal
    yaw = np.degrees(np.arctan(2.0 * (t - 0.5)))
    roll = np.degrees(np.arctan2(axis[:, 1], axis[:, 0]))
    return yaw, roll


def _crop_stats(gray: np.ndarray, box: np.ndarray) -> tuple[float, float]:
    h, w = gray.shape
    x1, x2 = np.clip([box[0], box[2]], 0, w).astype(int)  # clip: a negative end would wrap around
    y1, y2 = np.clip([box[1], box[3]], 0, h).astype(int)
    crop = gray[y1:y2, x1:x2]
    if crop.size == 0:
        return 0.0, 0.0
    crop = cv2.resize(crop, (_CROP, _CROP), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(crop, cv2.CV_64F).var())
    q = _CROP // 4
    return sharpness, float(crop[q:-q, q:-q].mean()) / 255.0


def face_metrics(gray: np.ndarray, faces: Detections) -> FaceMetrics:
    """Per-face metrics from the frame's grey image (callers convert once and share it)."""
    stats = np.array([_crop_stats(gray, box) for box in faces.xyxy], dtype=np.float64).reshape(-1, 2)
    if faces.landmarks is None:  # no landmarks: pose unknown, not penalised
        yaw = roll = np.zeros(len(faces))
    else:
        yaw, roll = pose_from_landmarks(faces.landmarks)
    return FaceMetrics(
        size_px=np.minimum(faces.widths, faces.heights).astype(np.float64),
        sharpness=stats[:, 0],
        yaw_deg=yaw,
        roll_deg=roll,
        brightness=stats[:, 1],
    )


def quality_scores(m: FaceMetrics, cfg: QualityGateConfig) -> np.ndarray:
    """Geometric mean of four sub-scores in 0..1, so one very bad aspect pulls the score down."""
    half = cfg.min_face_px / 2
    size = np.clip((m.size_px - half) / max(cfg.good_face_px - half, 1e-9), 0, 1)
    sharp = np.clip(m.sharpness / cfg.good_sharpness, 0, 1)
    pose = np.clip(
        1 - np.maximum(np.abs(m.yaw_deg) / cfg.max_yaw_deg, np.abs(m.roll_deg) / cfg.max_roll_deg), 0, 1
    )
    light = np.clip(
        np.minimum(m.brightness / cfg.min_brightness, (1 - m.brightness) / (1 - cfg.max_brightness)), 0, 1
    )
    return np.power(size * sharp * pose * light, 0.25)


class QualityGate:
    """Adds data["quality"] (0..1) and data["quality_ok"] (gets an age) to each face."""

    def __init__(self, cfg: QualityGateConfig) -> None:
        self.cfg = cfg

    def update(self, frame_bgr: np.ndarray, faces: Detections) -> Detections:
        metrics = face_metrics(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), faces)
        scores = quality_scores(metrics, self.cfg).astype(np.float32)
        ok = (metrics.size_px >= self.cfg.min_face_px) & (scores >= self.cfg.min_quality)
        return faces.with_data(quality=scores, quality_ok=ok)
