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

from edge_agent.attributes.config import QualityGateConfig
from edge_agent.attributes.visibility import (
    BACKLIT_FACES,
    SMALL_FACES,
    FaceStats,
    backlight_stops,
    face_problems,
)
from edge_agent.technician.capture import CameraReader, redact
from edge_agent.types import Detections

# FaceStats and backlight_stops live in visibility now (shared with the live edge); still importable here.
__all__ = ["CheckReport", "FaceStats", "backlight_stops", "check", "recommend", "summarise"]

EDGE_BAND = 0.12  # faces whose centre sits in the top/bottom 12% of the frame are being cut off
MIN_FACE_FRAMES = 0.05  # faces in fewer than 5% of frames: the camera is not seeing the door


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
    """Plain advice, most important first; an empty problem list says so explicitly."""
    if report.faces_seen == 0 or report.frames_with_faces < MIN_FACE_FRAMES * max(report.frames, 1):
        return ["Hardly any faces seen: point the camera at the door so people walk towards it, "
                "mounted 2.2-2.8 m high and tilted down 15-25 degrees; run the check while people pass."]
    advice = []
    # The same rule as the live edge health and the dashboard, so all three agree on what is wrong.
    problems = face_problems(report.backlight_stops, report.small_face_fraction)
    if BACKLIT_FACES in problems:
        advice.append(f"Faces are {report.backlight_stops:.1f} stops darker than the background (backlight): "
                      "enable WDR or backlight compensation (storelens camera imaging --wdr on), "
                      "or turn the camera away from the street/window.")
    if SMALL_FACES in problems:
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
