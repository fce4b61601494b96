"""Face chips for the age model, aligned from the detector's 5 landmarks the way it was trained.

age-v1 was trained on dlib face chips: `get_face_chip_details(shape, size, padding=0.2)` maps the
dlib 5-point shape (eye corners + nose base) onto a fixed template with a similarity transform and
samples bilinearly, using an image pyramid when shrinking. We have YuNet/SCRFD points instead (eye
centres, nose tip, mouth corners), so we place those on the same template frame: eye centres are the
midpoints of dlib's 5-point eye-corner template, nose tip and mouth corners come from dlib's own
68-point mean face (points 30, 48, 54), which shares that frame. dlib is not needed at runtime.
"""

from __future__ import annotations

import cv2
import numpy as np

# Detector landmark order: right eye (image left), left eye, nose tip, right mouth corner, left mouth corner;
# coordinates in dlib's unpadded chip frame (0..1).
LANDMARK_TEMPLATE = np.array(
    [
        [0.2103, 0.2079],
        [0.7897, 0.2079],
        [0.5000, 0.5289],
        [0.2506, 0.7795],
        [0.7494, 0.7795],
    ],
    dtype=np.float64,
)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking src points to dst; (2, 3)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append(([x, -y, 1.0, 0.0], u))
        rows.append(([y, x, 0.0, 1.0], v))
    a_mat = np.array([r[0] for r in rows])
    b_vec = np.array([r[1] for r in rows])
    a, b, tx, ty = np.linalg.lstsq(a_mat, b_vec, rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def chip_transform(landmarks: np.ndarray, size: int, padding: float) -> np.ndarray:
    """Image -> chip affine (2, 3) for one face's (5, 2) landmarks."""
    dst = (LANDMARK_TEMPLATE + padding) / (1.0 + 2.0 * padding) * size
    return similarity(np.asarray(landmarks, dtype=np.float64), dst)


def _prefilter(image: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink the face region first when the chip is much smaller (as dlib's pyramid does): no aliasing."""
    factor = 1.0 / float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))  # image px per chip px
    if factor < 1.5:
        return image, matrix
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inverse.T
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(0)) - 2, 0, [w - 1, h - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(corners.max(0)) + 2, [x0 + 1, y0 + 1], [w, h]).astype(int)
    crop = image[y0:y1, x0:x1]
    out_w, out_h = max(1, round(crop.shape[1] / factor)), max(1, round(crop.shape[0] / factor))
    small = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    sx, sy = crop.shape[1] / out_w, crop.shape[0] / out_h
    # small pixel (u, v) centre sits at image (x0 + (u + .5) * sx - .5, ...)
    to_image = np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5], [0, 0, 1]])
    return small, matrix @ to_image


def extract_chip(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    source, m = _prefilter(image, matrix, size)
    return cv2.warpAffine(source, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def face_chips(image: np.ndarray, landmarks: np.ndarray, size: int, padding: float) -> np.ndarray:
    """(N, size, size, C) aligned chips, same channel order as `image`."""
    chips = [extract_chip(image, chip_transform(lm, size, padding), size) for lm in landmarks]
    if not chips:
        return np.zeros((0, size, size, image.shape[2]), dtype=image.dtype)
    return np.stack(chips)
