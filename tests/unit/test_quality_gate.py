"""Quality gate: pose from landmarks, the combined score, and which faces get an age."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.attributes.quality import FaceMetrics, QualityGate, pose_from_landmarks, quality_scores
from edge_agent.types import Detections
from storelens.config.attributes import QualityGateConfig

FRONTAL = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    m = cv2.getRotationMatrix2D((50, 60), -degrees, 1.0)  # OpenCV's positive angle is counter-clockwise
    return points @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize(
    ("landmarks", "yaw", "roll"),
    [
        (FRONTAL, 0.0, 0.0),
        (_rotate(FRONTAL, 30), 0.0, 30.0),
        (_rotate(FRONTAL, -20), 0.0, -20.0),
        (FRONTAL + [[0, 0], [0, 0], [10, 0], [0, 0], [0, 0]], 26.6, 0.0),  # nose 1/4 eye distance right
        (FRONTAL + [[0, 0], [0, 0], [-20, 0], [0, 0], [0, 0]], -45.0, 0.0),  # nose under the right eye
    ],
)
def test_pose_from_landmarks(landmarks, yaw, roll):
    got_yaw, got_roll = pose_from_landmarks(landmarks[None])
    assert got_yaw[0] == pytest.approx(yaw, abs=0.5)
    assert got_roll[0] == pytest.approx(roll, abs=0.5)


def _metrics(size=100.0, sharpness=500.0, yaw=0.0, roll=0.0, brightness=0.5) -> FaceMetrics:
    arr = lambda v: np.array([v], np.float64)  # noqa: E731
    return FaceMetrics(arr(size), arr(sharpness), arr(yaw), arr(roll), arr(brightness))


CFG = QualityGateConfig()


@pytest.mark.parametrize(
    ("metrics", "low", "high"),
    [
        (_metrics(), 0.99, 1.0),  # large, sharp, frontal, well lit
        (_metrics(size=20), 0.0, 0.0),  # half the minimum size: no face to speak of
        (_metrics(size=50), 0.8, 0.9),  # above the minimum, below "good": 0.5 ** 0.25
        (_metrics(sharpness=30), 0.5, 0.6),  # a tenth of the sharpness target: 0.1 ** 0.25
        (_metrics(sharpness=0.5), 0.0, 0.4),  # flat crop: motion blur or out of focus
        (_metrics(yaw=60), 0.0, 0.0),  # profile
        (_metrics(yaw=30), 0.8, 0.9),
        (_metrics(roll=40), 0.4, 0.6),
        (_metrics(brightness=0.02), 0.55, 0.65),  # almost black face
        (_metrics(brightness=0.0), 0.0, 0.0),
        (_metrics(brightness=0.99), 0.5, 0.6),  # nearly blown out
        (_metrics(brightness=1.0), 0.0, 0.0),  # blown out
    ],
)
def test_quality_score_table(metrics, low, high):
    score = quality_scores(metrics, CFG)[0]
    assert low <= score <= high


def _textured_frame(blur: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    frame = rng.integers(40, 210, (240, 320, 3), dtype=np.uint8)
    return cv2.GaussianBlur(frame, (0, 0), blur) if blur else frame


@pytest.mark.parametrize(
    ("box", "blur", "expect_ok"),
    [
        ([100, 60, 200, 160], 0, True),  # 100 px, sharp texture
        ([100, 60, 130, 90], 0, False),  # 30 px: below min_face_px
        ([100, 60, 200, 160], 12, False),  # heavily blurred
    ],
)
def test_gate_marks_which_faces_get_an_age(box, blur, expect_ok):
    lm = FRONTAL / 100 * (box[2] - box[0]) + [box[0], box[1]]
    faces = Detections(xyxy=np.array([box], np.float32), landmarks=lm[None])
    out = QualityGate(CFG).update(_textured_frame(blur), faces)
    assert out is not faces and "quality" not in faces.data  # a new object; input untouched
    assert bool(out.data["quality_ok"][0]) is expect_ok
    assert 0.0 <= out.data["quality"][0] <= 1.0


def test_gate_handles_no_faces_and_boxes_off_the_frame():
    gate = QualityGate(CFG)
    empty = gate.update(_textured_frame(0), Detections.empty())
    assert len(empty) == 0 and empty.data["quality"].shape == (0,)
    off = Detections(xyxy=np.array([[-50, -50, -10, -10]], np.float32))
    assert gate.update(_textured_frame(0), off).data["quality_ok"].tolist() == [False]


def test_config_refuses_inverted_brightness_range():
    with pytest.raises(ValueError, match="min_brightness must be below max_brightness"):
        QualityGateConfig(min_brightness=0.8, max_brightness=0.5)
