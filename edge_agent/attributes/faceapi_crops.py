"""Face crops for face-api.js AgeGenderNet: 112x112 RGB inputs prepared the way face-api.js prepares them.

face-api.js (src/dom/NetInput.ts, toBatchTensor for tensor inputs) pads the face image to a square with
zeros, centred (ops/padToSquare.ts: round(diff / 2) pixels after, the rest before), then resizes it with
tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false): source = destination * in / out,
neighbours clamped to the last row/column. `upstream_input` reproduces that exactly.

The crop policy around a detector box (margin, how to make it square, roll alignment, mirrored views)
is configurable because it was chosen by measurement (see age_eval.py), not by assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

INPUT_SIZE = 112
SquareMode = Literal["stretch", "zero_pad", "context"]


@dataclass(frozen=True)
class CropPolicy:
    """How a face box becomes the network's input views.

    square: 'zero_pad' pads the (margined) box to a square with black, as face-api.js does;
    'context' widens the shorter side with image pixels (black only outside the frame);
    'stretch' resizes the box to 112x112 without keeping its aspect ratio.
    margins: one view per margin, each a fraction of box width/height added on every side.
    align: rotate about the box centre so the eyes are level (needs landmarks; ignored without).
    flip: add the mirrored image of every view. Views are averaged; their spread feeds the interval.
    """

    square: SquareMode = "zero_pad"
    margins: tuple[float, ...] = (0.0,)
    align: bool = False
    flip: bool = False
    antialias: bool = field(default=True, compare=False)  # area-shrink faces over 2x the input size

    def __post_init__(self) -> None:
        if self.square not in ("stretch", "zero_pad", "context"):
            raise ValueError(f"crop square mode must be stretch, zero_pad or context, not {self.square!r}")
        if not self.margins or any(not -0.25 <= m <= 1.0 for m in self.margins):
            raise ValueError(f"crop margins must be a non-empty list within -0.25..1.0, got {self.margins}")

    @property
    def views(self) -> int:
        return len(self.margins) * (2 if self.flip else 1)


def pad_to_square(image: np.ndarray) -> np.ndarray:
    """face-api.js padToSquare(isCenterImage=true): zeros, round(diff/2) after and the rest before."""
    h, w = image.shape[:2]
    if h == w:
        return image
    diff = abs(h - w)
    after = int(np.floor(diff * 0.5 + 0.5))  # JS Math.round rounds halves up, numpy's round to even
    before = diff - after
    rows, cols = ((0, 0), (before, after)) if h > w else ((before, after), (0, 0))
    return np.pad(image, (rows, cols, (0, 0)))


def _legacy_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
    lo = np.floor(pos).astype(np.intp)
    return lo, np.minimum(lo + 1, n_in - 1), (pos - lo).astype(np.float32)


def resize_bilinear_tf(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false) in float32 (H, W, C)."""
    y0, y1, fy = _legacy_axis(image.shape[0], height)
    x0, x1, fx = _legacy_axis(image.shape[1], width)
    img = image.astype(np.float32, copy=False)
    fx = fx[None, :, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy[:, None, None]) + bottom * fy[:, None, None]


def to_input(image_rgb: np.ndarray, antialias: bool = False) -> np.ndarray:
    """(112, 112, 3) float32 from a square RGB image. `antialias` shrinks big faces by area first:
    TF's bilinear resize skips pixels when shrinking more than 2x, which makes ages noisy."""
    if image_rgb.shape[0] == image_rgb.shape[1] == INPUT_SIZE:
        return image_rgb.astype(np.float32)
    if antialias and image_rgb.shape[0] > 2 * INPUT_SIZE:
        small = cv2.resize(image_rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32)
    return resize_bilinear_tf(image_rgb, INPUT_SIZE, INPUT_SIZE)


def upstream_input(image_rgb: np.ndarray) -> np.ndarray:
    """The whole image as the face, exactly as face-api.js's NetInput prepares a tensor input."""
    return to_input(pad_to_square(image_rgb), antialias=False)


def roll_angle(landmarks: np.ndarray) -> float:
    """Degrees the eye line is tilted (YuNet order: right eye = image left, then left eye)."""
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def crop_size(box: np.ndarray, margin: float, square: SquareMode) -> tuple[int, int]:
    """(width, height) in source pixels of the region cut around `box` before resizing."""
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    if square == "context":
        w = h = max(w, h)
    return max(1, round(w * (1 + 2 * margin))), max(1, round(h * (1 + 2 * margin)))


def crop_transform(box: np.ndarray, size: tuple[int, int], angle_deg: float) -> np.ndarray:
    """Frame -> crop affine (2, 3): a rotation about the box centre, then the crop's origin at 0."""
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    x0, y0 = cx - size[0] / 2.0, cy - size[1] / 2.0
    if angle_deg == 0.0:
        # Whole-pixel offsets: an exact copy of the pixels, no resampling blur.
        return np.array([[1.0, 0.0, -round(x0)], [0.0, 1.0, -round(y0)]])
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle_deg, 1.0)
    m[:, 2] -= (x0, y0)
    return m


def cut(frame: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The crop; pixels outside the frame are black, as face-api.js's padding is."""
    return cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def face_view(
    frame_rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, margin: float, policy: CropPolicy
) -> np.ndarray:
    """One (112, 112, 3) float32 view of one face."""
    angle = roll_angle(landmarks) if policy.align and landmarks is not None else 0.0
    if not np.isfinite(angle):  # a detector without landmarks may fill them with NaN
        angle = 0.0
    size = crop_size(box, margin, policy.square)
    crop = cut(frame_rgb, crop_transform(box, size, angle), size)
    if policy.square == "stretch":
        if policy.antialias and max(size) > 2 * INPUT_SIZE:
            return cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
        return resize_bilinear_tf(crop, INPUT_SIZE, INPUT_SIZE)
    return to_input(pad_to_square(crop), policy.antialias)


def face_views(
    frame_rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray | None, policy: CropPolicy
) -> np.ndarray:
    """(V, N, 112, 112, 3) float32 RGB: every view of every face, V = policy.views."""
    n = len(boxes)
    views = np.zeros((len(policy.margins), n, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    for v, margin in enumerate(policy.margins):
        for i in range(n):
            lm = None if landmarks is None else landmarks[i]
            views[v, i] = face_view(frame_rgb, boxes[i], lm, margin, policy)
    if policy.flip:
        views = np.concatenate([views, views[:, :, :, ::-1]])
    return views
