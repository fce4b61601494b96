"""`storelens camera snapshot`: one frame for the install report, faces blurred, layout drawn on it.

The only image storelens ever writes, so it fails closed (edge_agent/technician/privacy.py): faces
are looked for at every quarter turn and inside every person box, every person's head is blurred
even when no face was found, the blurred frame is searched again, and a frame that cannot be made
safe is refused with nothing written. All of that happens before anything is drawn or encoded; the
PNG is written through a temporary file so a half-written image never appears.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge_agent.analytics.homography import FloorMapper
from edge_agent.technician.capture import open_capture, redact
from edge_agent.technician.privacy import PrivacyGuard, Protected
from storelens.config.analytics import AnalyticsConfig
from storelens.errors import InputError
from storelens.files import write_atomic

log = logging.getLogger(__name__)

LINE_COLOUR, ZONE_COLOUR, GRID_COLOUR = (0, 220, 255), (255, 160, 0), (120, 255, 120)
WARMUP_FRAMES = 5  # the first frames of an RTSP stream are often grey until a keyframe arrives


def grab_frame(url: str, timeout_s: float = 5.0) -> np.ndarray:
    cap = open_capture(url, timeout_s)
    frame = None
    try:
        for _ in range(WARMUP_FRAMES):
            ok, image = cap.read()
            if ok:
                frame = image
    finally:
        cap.release()
    if frame is None:
        raise InputError(f"camera {redact(url)}: opened but delivered no frame")
    return frame


def _to_image(inverse: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Floor points -> image pixels; rows behind the camera (w <= 0) become NaN."""
    homog = np.c_[points, np.ones(len(points))] @ inverse.T
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = homog[:, :2] / homog[:, 2:3]
    xy[homog[:, 2] <= 1e-9] = np.nan
    return xy


def draw_floor_grid(image: np.ndarray, mapper: FloorMapper, cell_m: float) -> None:
    inverse = np.linalg.inv(mapper.matrix)
    xs = np.arange(0.0, mapper.width_m + 1e-9, cell_m)
    ys = np.arange(0.0, mapper.height_m + 1e-9, cell_m)
    lines = [np.c_[np.full(50, x), np.linspace(0, mapper.height_m, 50)] for x in xs]
    lines += [np.c_[np.linspace(0, mapper.width_m, 50), np.full(50, y)] for y in ys]
    for floor_line in lines:
        pts = _to_image(inverse, floor_line)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) > 1:
            cv2.polylines(image, [pts.round().astype(np.int32)], False, GRID_COLOUR, 1, cv2.LINE_AA)


def draw_layout(image: np.ndarray, analytics: AnalyticsConfig) -> None:
    """Entrance lines (with an arrow into the store), zones and the floor grid, in place."""
    for line in analytics.lines:
        start, end = np.array(line.start), np.array(line.end)
        cv2.line(image, tuple(start.astype(int)), tuple(end.astype(int)), LINE_COLOUR, 2, cv2.LINE_AA)
        normal = np.array([-(end - start)[1], (end - start)[0]]) / np.linalg.norm(end - start)
        normal = normal if line.in_side == "right" else -normal  # image y points down
        mid = (start + end) / 2
        cv2.arrowedLine(image, tuple(mid.astype(int)), tuple((mid + 30 * normal).astype(int)), LINE_COLOUR, 2)
        cv2.putText(image, f"{line.name} (in)", tuple((mid + 34 * normal).astype(int)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, LINE_COLOUR, 1, cv2.LINE_AA)
    for zone in analytics.zones:
        poly = np.array(zone.polygon, np.int32)
        cv2.polylines(image, [poly], True, ZONE_COLOUR, 2, cv2.LINE_AA)
        cv2.putText(image, zone.name, tuple(poly[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.5, ZONE_COLOUR, 1, cv2.LINE_AA)
    if analytics.homography is not None:
        draw_floor_grid(image, FloorMapper.calibrate(analytics.homography), analytics.heatmap_cell_m)
    else:
        cv2.putText(image, "no floor calibration (storelens camera calibrate)", (10, image.shape[0] - 10),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, GRID_COLOUR, 1, cv2.LINE_AA)


def write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise InputError(f"snapshot {path}: cannot encode PNG")
    write_atomic(path, data.tobytes(), what="snapshot")


def snapshot(url: str, out: Path, guard: PrivacyGuard, analytics: AnalyticsConfig,
             timeout_s: float = 5.0) -> Protected:
    """Write the blurred, annotated frame to `out`; SnapshotRefused (nothing written) if it cannot be made safe."""
    frame = grab_frame(url, timeout_s)
    protected = guard.protect(frame)
    del frame  # nothing below may see the unblurred pixels
    draw_layout(protected.image, analytics)
    guard.settle(protected, crops=False)  # what is written, drawing included, is searched once more
    write_png(Path(out), protected.image)
    log.info("snapshot of %s written to %s (%d faces and the heads of %d people blurred)",
             redact(url), out, protected.face_count, protected.persons)
    return protected
