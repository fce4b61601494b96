"""`storelens camera check`: is this camera placed well enough for faces and age?

Runs the product's own face detector and face metrics (edge_agent.detect, attributes.quality)
for N seconds and turns the numbers into plain advice. The backlight score is how many photographic
stops darker the faces are than the rest of the picture: log2(background / face luminance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np

from edge_agent.attributes.config import QualityGateConfig
from edge_agent.attributes.quality import face_metrics
from edge_agent.technician.capture import CameraReader, redact
from edge_agent.types import Detections

BACKLIGHT_STOPS = 1.5  # faces 1.5 stops (~3x) darker than the scene: WDR/BLC territory
EDGE_BAND = 0.12  # faces whose centre sits in the top/bottom 12% of the frame are being cut off
MIN_FACE_FRAMES = 0.05  # faces in fewer than 5% of frames: the camera is not seeing the door


@dataclass
class FaceStats:
    """Per-face and per-frame measurements gathered during a check (numbers only, no pixels)."""

    frames: int = 0
    frames_with_faces: int = 0
    size_px: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    face_luma: list[float] = field(default_factory=list)
    background_luma: list[float] = field(default_factory=list)
    centre_y: list[float] = field(default_factory=list)  # 0 = top of the frame, 1 = bottom

    def update(self, frame_bgr: np.ndarray, faces: Detections) -> None:
        self.frames += 1
        if len(faces) == 0:
            return
        self.frames_with_faces += 1
        metrics = face_metrics(frame_bgr, faces)
        self.size_px += metrics.size_px.tolist()
        self.sharpness += metrics.sharpness.tolist()
        self.face_luma += metrics.brightness.tolist()
        self.background_luma.append(background_luminance(frame_bgr, faces))
        self.centre_y += (faces.centers[:, 1] / frame_bgr.shape[0]).tolist()


def background_luminance(frame_bgr: np.ndarray, faces: Detections) -> float:
    """Mean luminance 0..1 of the frame outside the face boxes."""
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    mask = np.ones(gray.shape, bool)
    for x1, y1, x2, y2 in np.clip(faces.xyxy, 0, None).astype(int):
        mask[y1:y2, x1:x2] = False
    return float(gray[mask].mean()) / 255.0 if mask.any() else float(gray.mean()) / 255.0


def backlight_stops(face_luma: float, background_luma: float) -> float:
    """Stops the faces are darker than the background (negative: brighter)."""
    return math.log2(max(background_luma, 1e-3) / max(face_luma, 1e-3))


@dataclass(frozen=True)
class CheckReport:
    url: str
    seconds: float
    frames: int
    frames_with_faces: int
    faces_seen: int
    median_face_px: float | None
    backlight_stops: float | None
    median_sharpness: float | None
    median_face_centre_y: float | None
    reconnects: int
    recommendations: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 2) if values else None


def summarise(stats: FaceStats, quality: QualityGateConfig, *, url: str, seconds: float,
              reconnects: int = 0) -> CheckReport:
    face, back = _median(stats.face_luma), _median(stats.background_luma)
    stops = round(backlight_stops(face, back), 2) if face is not None and back is not None else None
    report = CheckReport(url, round(seconds, 2), stats.frames, stats.frames_with_faces, len(stats.size_px),
                         _median(stats.size_px), stops, _median(stats.sharpness), _median(stats.centre_y),
                         reconnects, [])
    return replace(report, recommendations=recommend(report, quality))


def recommend(report: CheckReport, quality: QualityGateConfig) -> list[str]:
    """Plain advice, most important first; an empty problem list says so explicitly."""
    if report.faces_seen == 0 or report.frames_with_faces < MIN_FACE_FRAMES * max(report.frames, 1):
        return ["Hardly any faces seen: point the camera at the door so people walk towards it, "
                "mounted 2.2-2.8 m high and tilted down 15-25 degrees; run the check while people pass."]
    advice = []
    if report.backlight_stops is not None and report.backlight_stops >= BACKLIGHT_STOPS:
        advice.append(f"Faces are {report.backlight_stops:.1f} stops darker than the background (backlight): "
                      "enable WDR or backlight compensation (storelens camera imaging --wdr on), "
                      "or turn the camera away from the street/window.")
    if report.median_face_px is not None and report.median_face_px < quality.min_face_px:
        advice.append(f"Faces are {report.median_face_px:.0f} px, below the {quality.min_face_px} px needed for age: "
                      "move the camera closer to the door, zoom in, or use a higher resolution stream.")
    if report.median_sharpness is not None and report.median_sharpness < quality.good_sharpness / 3:
        advice.append("Faces are blurred: check focus, clean the lens, and shorten the shutter time "
                      "(motion blur at walking speed).")
    centre = report.median_face_centre_y
    if centre is not None and centre < EDGE_BAND:
        advice.append("Faces sit at the top edge of the picture: tilt the camera up or lower it.")
    elif centre is not None and centre > 1 - EDGE_BAND:
        advice.append("Faces sit at the bottom edge of the picture: tilt the camera down or raise it.")
    return advice or ["Camera placement looks good for faces and age."]


def check(url: str, seconds: float, detector: Callable[[np.ndarray], Detections],
          quality: QualityGateConfig, timeout_s: float = 5.0) -> CheckReport:
    """Detect faces for `seconds` and summarise; frames never leave this function."""
    reader = CameraReader(url, seconds, timeout_s)
    stats = FaceStats()
    for image, _pos_ms in reader.frames():
        stats.update(image, detector(image))
    return summarise(stats, quality, url=redact(url), seconds=reader.elapsed_s, reconnects=reader.reconnects)
