"""Honest variants of an annotated clip, for auditing counting on more than one scenario.

Each variant transforms the video and its ground truth together (and the entrance lines with
them), so the truth stays the truth: a horizontal flip (mirror lines, in/out sides swap), time
reversal (everyone walks backwards: entries become exits), half the frame rate, a downscale and an
upscale, and a crop that moves the frame edges in (people now enter and leave the view in the
middle of the walkway; a box counts as ground truth while at least half of it is in view).
Videos are written losslessly (FFV1) so the transform adds no compression of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

log = logging.getLogger(__name__)

Rows = np.ndarray  # (N, >=6) MOTChallenge rows: frame, id, x, y, w, h, ...


@dataclass(frozen=True)
class Scenario:
    name: str
    video: Path
    gt: Path
    config: Path


@dataclass(frozen=True)
class _Transform:
    name: str
    frames: Callable[[list[np.ndarray]], list[np.ndarray]]
    rows: Callable[[Rows, int, int, int], Rows]  # (rows, width, height, frame count) -> rows
    point: Callable[[tuple[float, float], int, int], tuple[float, float]]  # line point (x, y) -> new point
    swap_sides: bool = False
    scale: float = 1.0  # pixel scale, applied to the hysteresis band
    fps_factor: float = 1.0


def _flip_rows(rows: Rows, w: int, h: int, n: int) -> Rows:
    out = rows.copy()
    out[:, 2] = w - rows[:, 2] - rows[:, 4]
    return out


def _reverse_rows(rows: Rows, w: int, h: int, n: int) -> Rows:
    out = rows.copy()
    out[:, 0] = n + 1 - rows[:, 0]
    return out[np.lexsort((out[:, 1], out[:, 0]))]


def _half_rows(rows: Rows, w: int, h: int, n: int) -> Rows:
    kept = rows[rows[:, 0] % 2 == 1].copy()  # frames 1, 3, 5, ... become 1, 2, 3, ...
    kept[:, 0] = (kept[:, 0] + 1) // 2
    return kept


def _scaled(s: float) -> Callable[[Rows, int, int, int], Rows]:
    def rows(r: Rows, w: int, h: int, n: int) -> Rows:
        out = r.copy()
        out[:, 2:6] *= s
        return out
    return rows


def _cropped(x0: int, y0: int, x1: int, y1: int) -> Callable[[Rows, int, int, int], Rows]:
    def rows(r: Rows, w: int, h: int, n: int) -> Rows:
        box = np.c_[r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]]
        clipped = np.c_[np.clip(box[:, [0, 2]], x0, x1), np.clip(box[:, [1, 3]], y0, y1)][:, [0, 2, 1, 3]]
        area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
        keep = area(clipped) >= 0.5 * area(box)
        out = r[keep].copy()
        c = clipped[keep]
        out[:, 2:6] = np.c_[c[:, 0] - x0, c[:, 1] - y0, c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]]
        return out
    return rows


def transforms(width: int, height: int) -> list[_Transform]:
    cx0, cy0, cx1, cy1 = width // 8, height // 12, width - width // 8, height
    same = lambda p, w, h: p  # noqa: E731
    return [
        _Transform("original", lambda f: f, lambda r, w, h, n: r, same),
        _Transform("flip", lambda f: [np.ascontiguousarray(i[:, ::-1]) for i in f], _flip_rows,
                   lambda p, w, h: (w - p[0], p[1]), swap_sides=True),
        _Transform("reverse", lambda f: f[::-1], _reverse_rows, same),
        _Transform("half-fps", lambda f: f[::2], _half_rows, same, fps_factor=0.5),
        _Transform("scale-0.6", lambda f: [cv2.resize(i, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
                                           for i in f], _scaled(0.6), lambda p, w, h: (p[0] * 0.6, p[1] * 0.6),
                   scale=0.6),
        _Transform("scale-2", lambda f: [cv2.resize(i, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
                                         for i in f], _scaled(2.0), lambda p, w, h: (p[0] * 2, p[1] * 2), scale=2.0),
        _Transform("crop", lambda f: [np.ascontiguousarray(i[cy0:cy1, cx0:cx1]) for i in f],
                   _cropped(cx0, cy0, cx1, cy1), lambda p, w, h: (p[0] - cx0, p[1] - cy0)),
    ]


def derive(video: Path, gt: Path, config: Path, out_dir: Path, names: list[str] | None = None) -> list[Scenario]:
    """Write each variant's video, ground truth and config under `out_dir`; the original is used in place."""
    frames, fps = _read(video)
    height, width = frames[0].shape[:2]
    rows = np.loadtxt(gt, delimiter=",", ndmin=2)
    cfg = yaml.safe_load(config.read_text())
    out = []
    for t in transforms(width, height):
        if names and t.name not in names:
            continue
        if t.name == "original":
            out.append(Scenario(t.name, video, gt, config))
            continue
        new = t.frames(frames)
        target = out_dir / t.name
        target.mkdir(parents=True, exist_ok=True)
        _write(target / "video.mkv", new, fps * t.fps_factor)
        np.savetxt(target / "gt.txt", t.rows(rows, width, height, len(frames)), delimiter=",", fmt="%.6g")
        h, w = new[0].shape[:2]
        (target / "config.yaml").write_text(yaml.safe_dump(_lines_config(cfg, t, width, height, w, h)))
        out.append(Scenario(t.name, target / "video.mkv", target / "gt.txt", target / "config.yaml"))
    return out


def _lines_config(cfg: dict, t: _Transform, width: int, height: int, new_w: int, new_h: int) -> dict:
    cfg = yaml.safe_load(yaml.safe_dump(cfg))  # deep copy
    lines = []
    for line in cfg["edge"]["analytics"]["lines"]:
        start, end = (t.point(tuple(line[k]), width, height) for k in ("start", "end"))
        if not all(0 <= p[0] <= new_w and 0 <= p[1] <= new_h for p in (start, end)):
            start, end = _clip_segment(start, end, new_w, new_h)
            if start is None:
                continue  # the line lies outside the new frame
        side = line.get("in_side", "right")
        line.update(start=[round(v, 2) for v in start], end=[round(v, 2) for v in end],
                    in_side={"left": "right", "right": "left"}[side] if t.swap_sides else side,
                    band_px=round(line.get("band_px", 12.0) * t.scale, 2))
        lines.append(line)
    cfg["edge"]["analytics"]["lines"] = lines
    return cfg


def _clip_segment(a, b, w: int, h: int):
    """The part of segment a-b inside the frame (Liang-Barsky), or (None, None)."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0), (dx, w - 1 - x0), (-dy, y0), (dy, h - 1 - y0)):
        if p == 0:
            if q < 0:
                return None, None
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
    if t0 >= t1 - 1e-6:
        return None, None
    return (x0 + t0 * dx, y0 + t0 * dy), (x0 + t1 * dx, y0 + t1 * dy)


def _read(video: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    return frames, fps


def _write(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    for image in frames:
        writer.write(image)
    writer.release()
