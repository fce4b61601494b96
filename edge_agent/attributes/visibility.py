"""How well a camera sees faces: size, light and sharpness, as numbers only (no pixels are kept).

One measurement serves both the technician's `storelens camera check` and the live edge health:
per frame, each face's size, sharpness, luminance and height in the picture plus the background's
luminance; a summary over many frames; and the rule that turns a summary into problem labels, which
the dashboard applies to the same numbers. The backlight score is how many photographic stops darker
the faces are than the rest of the picture: log2(background / face luminance), in linear light. Pixel
values are gamma-encoded (sRGB); their plain ratio reads faces 3 stops under as about 1.4 "stops"
(measured on the backlit variants of ../shared/media/faces), so the medians are decoded first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_agent.attributes.quality import face_metrics
from edge_agent.types import Detections
from storelens.facehealth import FaceSummary, backlight_stops, to_linear

__all__ = ["FaceStats", "FaceSummary", "FrameFaces", "RecentFaces", "measure"]

RECENT_S = 600.0  # live health looks back 10 minutes: enough faces in a quiet store, still current


@dataclass(frozen=True)
class FrameFaces:
    """One frame's faces, measured: one value per face, plus the luminance around them."""

    size_px: np.ndarray  # shorter box side
    sharpness: np.ndarray  # variance of the Laplacian on a fixed-size crop
    luma: np.ndarray  # mean luminance 0..1 of each face's central part
    centre_y: np.ndarray  # 0 = top of the frame, 1 = bottom
    background_luma: float  # mean luminance 0..1 outside the face boxes


def background_luminance(gray: np.ndarray, faces: Detections) -> float:
    """Mean luminance 0..1 of the (grey) frame outside the face boxes."""
    mask = np.full(gray.shape, 255, np.uint8)
    for x1, y1, x2, y2 in np.clip(faces.xyxy, 0, None).astype(int):
        mask[y1:y2, x1:x2] = 0
    if not mask.any():  # faces fill the frame: nothing else to compare with
        return float(gray.mean()) / 255.0
    return float(cv2.mean(gray, mask=mask)[0]) / 255.0


def measure(frame_bgr: np.ndarray, faces: Detections) -> FrameFaces | None:
    """The faces of one frame, measured on the camera's own pixels; None when there are none."""
    if len(faces) == 0:
        return None
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    metrics = face_metrics(gray, faces)
    return FrameFaces(size_px=metrics.size_px, sharpness=metrics.sharpness, luma=metrics.brightness,
                      centre_y=faces.centers[:, 1] / frame_bgr.shape[0],
                      background_luma=background_luminance(gray, faces))


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 2) if values else None


@dataclass
class FaceStats:
    """Measurements gathered frame by frame (numbers only), summarised on demand."""

    frames: int = 0
    frames_with_faces: int = 0
    size_px: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    face_luma: list[float] = field(default_factory=list)
    background_luma: list[float] = field(default_factory=list)  # one per frame with faces
    centre_y: list[float] = field(default_factory=list)

    def update(self, frame_bgr: np.ndarray, faces: Detections) -> None:
        self.add(measure(frame_bgr, faces))

    def add(self, sample: FrameFaces | None) -> None:
        self.frames += 1
        if sample is None:
            return
        self.frames_with_faces += 1
        self.size_px += sample.size_px.tolist()
        self.sharpness += sample.sharpness.tolist()
        self.face_luma += sample.luma.tolist()
        self.background_luma.append(sample.background_luma)
        self.centre_y += sample.centre_y.tolist()

    def summary(self, min_face_px: float) -> FaceSummary:
        stops = None
        if self.face_luma and self.background_luma:  # unrounded medians: dark faces need every digit
            face, back = (to_linear(float(np.median(v))) for v in (self.face_luma, self.background_luma))
            stops = round(backlight_stops(face, back), 2)
        small = round(float(np.mean(np.asarray(self.size_px) < min_face_px)), 3) if self.size_px else None
        return FaceSummary(len(self.size_px), _median(self.size_px), stops, small, _median(self.sharpness),
                           _median(self.centre_y))


class RecentFaces:
    """The faces measured over the last `span_s` seconds of one camera, for its live health.

    Time is the frames' own clock (a file replays its timestamps), and every frame advances it, so
    faces age out while the store is empty too.
    """

    def __init__(self, min_face_px: float, span_s: float = RECENT_S) -> None:
        self.min_face_px = min_face_px
        self.span_s = span_s
        self._samples: deque[tuple[float, FrameFaces]] = deque()

    def add(self, ts: float, sample: FrameFaces | None) -> None:
        """Note a frame taken at `ts` (epoch seconds) and its measured faces, if any."""
        if sample is not None:
            self._samples.append((ts, sample))
        while self._samples and self._samples[0][0] < ts - self.span_s:
            self._samples.popleft()

    def summary(self) -> FaceSummary:
        stats = FaceStats()
        for _ts, sample in self._samples:
            stats.add(sample)
        return stats.summary(self.min_face_px)
