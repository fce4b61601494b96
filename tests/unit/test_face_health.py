"""Face visibility numbers for live health and the technician's check: one measurement, one rule.

Samples are hand-built; expected backlight scores come from luminances chosen in linear light and
encoded with the sRGB curve here, so the test does not reuse the code's own conversion.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from dashboard.problems import camera_problems
from edge_agent.app import _face_fields
from edge_agent.attributes.visibility import FaceStats, FrameFaces, RecentFaces, measure
from edge_agent.types import Detections
from storelens.config.dashboard import DashboardConfig
from storelens.facehealth import (
    BACKLIGHT_PROBLEM_STOPS,
    SMALL_FACE_PROBLEM_FRACTION,
    FaceSummary,
    face_problems,
)
from storelens.wire import CameraHealth

MIN_FACE_PX = 40


def srgb(linear: float) -> float:
    """Linear light 0..1 -> sRGB-encoded 0..1 (IEC 61966-2-1), the way a camera stores pixels."""
    return linear * 12.92 if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


def sample(sizes, face_linear: float, background_linear: float, centre_y: float = 0.5) -> FrameFaces:
    n = len(sizes)
    return FrameFaces(size_px=np.asarray(sizes, float), sharpness=np.full(n, 300.0),
                      luma=np.full(n, srgb(face_linear)), centre_y=np.full(n, centre_y),
                      background_luma=srgb(background_linear))


@pytest.mark.parametrize(("samples", "faces", "median_px", "stops", "small", "problems"), [
    ([], 0, None, None, None, []),
    ([None, None], 0, None, None, None, []),  # frames without faces count as frames, not as faces
    ([sample([60, 80], 0.2, 0.2)], 2, 70.0, 0.0, 0.0, []),
    ([sample([60, 80], 0.05, 0.4)], 2, 70.0, 3.0, 0.0, ["backlit faces"]),  # 8x darker: 3 stops
    ([sample([90], 0.4, 0.1)], 1, 90.0, -2.0, 0.0, []),  # faces brighter than the scene
    ([sample([20, 30], 0.2, 0.2), sample([50, 60], 0.2, 0.2)], 4, 40.0, 0.0, 0.5, ["faces too small"]),
    ([sample([20, 30, 50], 0.2, 0.2)], 3, 30.0, 0.0, 0.667, ["faces too small"]),
    ([sample([20], 0.05, 0.4), sample([100], 0.2, 0.2), sample([100] * 2, 0.2, 0.2)], 4, 100.0, 0.0, 0.25,
     []),  # medians, not means: one backlit face among many does not flag the camera
    ([sample([30], 0.02, 0.4), None], 1, 30.0, 4.32, 1.0, ["backlit faces", "faces too small"]),
])
def test_summary_of_measured_frames(samples, faces, median_px, stops, small, problems) -> None:
    stats = FaceStats()
    for s in samples:
        stats.add(s)
    summary = stats.summary(MIN_FACE_PX)
    assert stats.frames == len(samples)
    assert stats.frames_with_faces == sum(s is not None for s in samples)
    assert (summary.faces_seen, summary.median_face_px, summary.small_face_fraction) == (faces, median_px, small)
    assert summary.backlight_stops == (None if stops is None else pytest.approx(stops, abs=0.01))
    assert summary.problems() == problems


@pytest.mark.parametrize(("frames", "span_s", "faces"), [
    ([(0, [50])], 600, 1),
    ([(0, [50]), (300, [50, 60])], 600, 3),
    ([(0, [50]), (601, [50, 60])], 600, 2),  # the first is more than span_s older than the newest
    ([(0, [50]), (600, [60])], 600, 2),  # exactly span_s old is still in
    ([(0, [50, 60]), (400, None), (700, None)], 600, 0),  # an empty store: faces age out all the same
    ([(0, [50]), (30, None), (60, [70])], 45, 1),
])
def test_recent_faces_keep_only_the_last_span(frames, span_s, faces) -> None:
    recent = RecentFaces(MIN_FACE_PX, span_s=span_s)
    for ts, sizes in frames:
        recent.add(float(ts), None if sizes is None else sample(sizes, 0.2, 0.2))
    assert recent.summary().faces_seen == faces


def test_recent_faces_forget_old_backlight() -> None:
    """A camera fixed at 09:00 (WDR on) stops reporting backlight once the morning has aged out."""
    recent = RecentFaces(MIN_FACE_PX, span_s=600)
    recent.add(0.0, sample([60] * 5, 0.02, 0.5))
    assert recent.summary().problems() == ["backlit faces"]
    recent.add(700.0, sample([60] * 5, 0.2, 0.2))
    assert recent.summary().problems() == [] and recent.summary().faces_seen == 5


@pytest.mark.parametrize(("backlight", "small", "limits", "expected"), [
    (None, None, {}, []),
    (0.0, 0.0, {}, []),
    (BACKLIGHT_PROBLEM_STOPS, 0.0, {}, ["backlit faces"]),  # at the threshold counts
    (BACKLIGHT_PROBLEM_STOPS - 0.01, SMALL_FACE_PROBLEM_FRACTION - 0.01, {}, []),
    (0.0, SMALL_FACE_PROBLEM_FRACTION, {}, ["faces too small"]),
    (3.0, 1.0, {}, ["backlit faces", "faces too small"]),  # most important first
    (1.0, 0.3, {"backlight_limit": 0.5, "small_limit": 0.2}, ["backlit faces", "faces too small"]),
    (-4.0, None, {}, []),  # bright faces are no problem
])
def test_face_problem_rule(backlight, small, limits, expected) -> None:
    assert face_problems(backlight, small, **limits) == expected


def test_measure_reads_a_dark_face_on_a_bright_frame() -> None:
    frame = np.full((200, 300, 3), 200, np.uint8)
    frame[50:110, 100:150] = 40  # a 50x60 px face
    faces = Detections(xyxy=np.array([[100, 50, 150, 110]], float), confidence=np.array([0.9]))
    got = measure(frame, faces)
    assert got.size_px.tolist() == [50.0]
    assert got.luma[0] == pytest.approx(40 / 255, abs=1e-3)
    assert got.background_luma == pytest.approx(200 / 255, abs=1e-3)
    assert got.centre_y[0] == pytest.approx(80 / 200)
    assert measure(frame, Detections.empty()) is None


def _healthy(now: datetime) -> dict:
    """A device row with nothing wrong but its faces (times relative to `now`, not to import time)."""
    return {"status": "online", "last_heartbeat": now - timedelta(seconds=5), "camera_up": True,
            "fps": 9.0, "last_sync": now - timedelta(hours=1)}


@pytest.mark.parametrize(("numbers", "edge_problem", "expected"), [
    ({"backlight_score": 2.0}, "backlit faces", ["backlit faces"]),  # the edge's label and the rule agree: once
    ({"backlight_score": 2.0, "small_face_fraction": 0.9}, "backlit faces", ["backlit faces", "faces too small"]),
    ({"backlight_score": 0.2, "small_face_fraction": 0.1}, None, []),
])
def test_dashboard_names_face_problems_as_the_edge_does(numbers, edge_problem, expected) -> None:
    cfg = DashboardConfig()
    now = datetime.now(UTC)
    row = {**_healthy(now), **numbers, "edge_problem": edge_problem}
    assert camera_problems(row, now, cfg) == expected
    assert (cfg.backlight_problem_stops, cfg.small_face_problem_fraction) == (
        BACKLIGHT_PROBLEM_STOPS, SMALL_FACE_PROBLEM_FRACTION)  # one default for edge, check and dashboard


@pytest.mark.parametrize(("summary", "wire"), [
    (FaceSummary(0, None, None, None, None, None),
     {"faces_seen": 0, "median_face_px": 0.0, "backlight_score": 0.0, "small_face_fraction": 0.0}),
    (FaceSummary(12, 64.5, 2.4, 0.25, 300.0, 0.4),
     {"faces_seen": 12, "median_face_px": 64.5, "backlight_score": 2.4, "small_face_fraction": 0.25}),
    (FaceSummary(3, 20_000.0, 11.2, 1.0, 1.0, 0.5),  # out of the wire's range: clamped, never a crash
     {"faces_seen": 3, "median_face_px": 10_000.0, "backlight_score": 10.0, "small_face_fraction": 1.0}),
    (FaceSummary(3, 50.0, -12.0, 0.0, 1.0, 0.5),
     {"faces_seen": 3, "median_face_px": 50.0, "backlight_score": -10.0, "small_face_fraction": 0.0}),
])
def test_health_fields_always_fit_the_wire(summary, wire) -> None:
    health = CameraHealth(camera_id="door", up=True, **_face_fields(summary))
    assert health.model_dump(include=set(wire)) == wire
