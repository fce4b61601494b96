"""Face health rules: from a camera's face numbers (size, backlight, sharpness) to problems and advice.

Pure numbers in, labels and plain advice out, with no pixels and no OpenCV, so the technician's
`storelens camera check`, the live edge health and the dashboard's technician page all use the same
rule and the same words. The backlight score is how many photographic stops darker the faces are
than the rest of the picture: log2(background / face luminance), in linear light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BACKLIGHT_PROBLEM_STOPS = 1.5  # faces 1.5 stops (~3x) darker than the scene: WDR/BLC territory
SMALL_FACE_PROBLEM_FRACTION = 0.5  # half the faces too small for an age, i.e. the median face is
BACKLIT_FACES = "backlit faces"
SMALL_FACES = "faces too small"
EDGE_BAND = 0.12  # faces whose centre sits in the top/bottom 12% of the frame are being cut off
MIN_FACE_FRAMES = 0.05  # faces in fewer than 5% of frames: the camera is not seeing the door


def backlight_stops(face_luma: float, background_luma: float) -> float:
    """Stops the faces are darker than the background (negative: brighter), from linear luminances."""
    return math.log2(max(background_luma, 1e-3) / max(face_luma, 1e-3))


def to_linear(value: float) -> float:
    """sRGB-encoded 0..1 to linear light 0..1 (the sRGB curve, as in devkit/bench/synth.py)."""
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def face_problems(backlight: float | None, small_fraction: float | None, *,
                  backlight_limit: float = BACKLIGHT_PROBLEM_STOPS,
                  small_limit: float = SMALL_FACE_PROBLEM_FRACTION) -> list[str]:
    """Problem labels for a camera's face numbers, most important first; None means not measured."""
    problems = []
    if backlight is not None and backlight >= backlight_limit:
        problems.append(BACKLIT_FACES)
    if small_fraction is not None and small_fraction >= small_limit:
        problems.append(SMALL_FACES)
    return problems


@dataclass(frozen=True)
class FaceSummary:
    """Aggregates over many frames; nothing that identifies anyone. None: no face to measure."""

    faces_seen: int
    median_face_px: float | None
    backlight_stops: float | None
    small_face_fraction: float | None  # share of faces below the age gate's minimum size
    median_sharpness: float | None
    median_centre_y: float | None

    def problems(self) -> list[str]:
        return face_problems(self.backlight_stops, self.small_face_fraction)


def advice(summary: FaceSummary, *, min_face_px: float, good_sharpness: float,
           frames: int | None = None, frames_with_faces: int | None = None) -> list[str]:
    """Plain advice, most important first; an empty problem list says so explicitly."""
    seen_rarely = frames is not None and frames_with_faces is not None and (
        frames_with_faces < MIN_FACE_FRAMES * max(frames, 1))
    if summary.faces_seen == 0 or seen_rarely:
        return ["Hardly any faces seen: point the camera at the door so people walk towards it, "
                "mounted 2.2-2.8 m high and tilted down 15-25 degrees; run the check while people pass."]
    out = []
    problems = summary.problems()
    if BACKLIT_FACES in problems:
        out.append(f"Faces are {summary.backlight_stops:.1f} stops darker than the background (backlight): "
                   "enable WDR or backlight compensation (storelens camera imaging --wdr on), "
                   "or turn the camera away from the street/window.")
    if SMALL_FACES in problems:
        out.append(f"Faces are {summary.median_face_px:.0f} px, below the {min_face_px:.0f} px needed for age: "
                   "move the camera closer to the door, zoom in, or use a higher resolution stream.")
    if summary.median_sharpness is not None and summary.median_sharpness < good_sharpness / 3:
        out.append("Faces are blurred: check focus, clean the lens, and shorten the shutter time "
                   "(motion blur at walking speed).")
    centre = summary.median_centre_y
    if centre is not None and centre < EDGE_BAND:
        out.append("Faces sit at the top edge of the picture: tilt the camera up or lower it.")
    elif centre is not None and centre > 1 - EDGE_BAND:
        out.append("Faces sit at the bottom edge of the picture: tilt the camera down or raise it.")
    return out or ["Camera placement looks good for faces and age."]
