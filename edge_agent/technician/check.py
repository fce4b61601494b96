"""`storelens camera check`: is this camera placed well enough for faces and age?

Runs the product's own face detector and face visibility metrics (edge_agent.attributes.visibility,
the same numbers the live edge reports in its health) for N seconds and turns them into plain
advice. The backlight score is how many photographic stops darker the faces are than the rest of the
picture: log2(background / face luminance), in linear light.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from edge_agent.attributes.visibility import FaceStats
from edge_agent.technician.capture import CameraReader, redact
from edge_agent.types import Detections
from storelens.config.attributes import QualityGateConfig
from storelens.facehealth import FaceSummary, advice

__all__ = ["CheckReport", "check", "recommend", "summarise"]



@dataclass(frozen=True)
class CheckReport:
    url: str
    seconds: float
    frames: int
    frames_with_faces: int
    faces_seen: int
    median_face_px: float | None
    small_face_fraction: float | None
    backlight_stops: float | None
    median_sharpness: float | None
    median_face_centre_y: float | None
    reconnects: int
    recommendations: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(stats: FaceStats, quality: QualityGateConfig, *, url: str, seconds: float,
              reconnects: int = 0) -> CheckReport:
    s = stats.summary(quality.min_face_px)
    report = CheckReport(url=url, seconds=round(seconds, 2), frames=stats.frames,
                         frames_with_faces=stats.frames_with_faces, faces_seen=s.faces_seen,
                         median_face_px=s.median_face_px, small_face_fraction=s.small_face_fraction,
                         backlight_stops=s.backlight_stops, median_sharpness=s.median_sharpness,
                         median_face_centre_y=s.median_centre_y, reconnects=reconnects, recommendations=[])
    return replace(report, recommendations=recommend(report, quality))


def recommend(report: CheckReport, quality: QualityGateConfig) -> list[str]:
    """Plain advice, most important first: the shared rule (storelens.facehealth) the dashboard shows too."""
    summary = FaceSummary(report.faces_seen, report.median_face_px, report.backlight_stops,
                          report.small_face_fraction, report.median_sharpness, report.median_face_centre_y)
    return advice(summary, min_face_px=quality.min_face_px, good_sharpness=quality.good_sharpness,
                  frames=report.frames, frames_with_faces=report.frames_with_faces)


def check(url: str, seconds: float, detector: Callable[[np.ndarray], Detections],
          quality: QualityGateConfig, timeout_s: float = 5.0) -> CheckReport:
    """Detect faces for `seconds` and summarise; frames never leave this function."""
    reader = CameraReader(url, seconds, timeout_s)
    stats = FaceStats()
    for image, _pos_ms in reader.frames():
        stats.update(image, detector(image))
    return summarise(stats, quality, url=redact(url), seconds=reader.elapsed_s, reconnects=reader.reconnects)
