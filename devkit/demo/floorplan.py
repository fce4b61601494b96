"""Simple floor-plan images for synthetic stores: walls, entrance, display tables, as a PNG data URI."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np

PLAN_WIDTH_PX = 1400  # every plan this wide, whatever the floor: labels scale with the plan, not the metres
LABEL_HEIGHT_FRACTION = 1 / 40  # cap height of a label per plan width: >= 12 px once shown 480 px wide
_HERSHEY_CAP_PX = 22  # FONT_HERSHEY_SIMPLEX cap height at fontScale 1


@dataclass(frozen=True)
class Fixture:
    """A rectangle on the floor (metres, origin top-left): a display table, a till, fitting rooms."""

    name: str
    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


def render_png(width_m: float, height_m: float, fixtures: list[Fixture], entrance_x: tuple[float, float]) -> bytes:
    """The plan as PNG bytes: white floor, dark walls with a gap for the entrance, grey fixtures with
    labels large enough to read once the plan is shrunk into a chart (see LABEL_HEIGHT_FRACTION)."""
    scale = PLAN_WIDTH_PX / width_m
    w, h = PLAN_WIDTH_PX, max(1, round(height_m * scale))
    img = np.full((h, w, 3), 250, dtype=np.uint8)
    wall = max(4, w // 200)
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (60, 60, 60), wall)
    x0, x1 = (int(v * scale) for v in entrance_x)
    cv2.line(img, (x0, h - 2), (x1, h - 2), (250, 250, 250), wall + 2)
    _label(img, "entrance", (x0, h - wall - 8), (90, 90, 90))
    for f in fixtures:
        p0 = (int(f.x * scale), int(f.y * scale))
        p1 = (int((f.x + f.w) * scale), int((f.y + f.h) * scale))
        cv2.rectangle(img, p0, p1, (205, 205, 205), -1)
        cv2.rectangle(img, p0, p1, (120, 120, 120), 2)
        cap = _cap_px(w)
        _label(img, f.name, (p0[0] + cap // 3, p0[1] + cap + cap // 3), (30, 30, 30))
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding of the floor plan failed")
    return buf.tobytes()


def _cap_px(width_px: int) -> int:
    return max(10, round(width_px * LABEL_HEIGHT_FRACTION))


def _label(img: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """Text with a white halo, so it stays readable where the heat colours lie over it."""
    scale = _cap_px(img.shape[1]) / _HERSHEY_CAP_PX
    thick = max(1, round(scale * 1.6))
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick + 4, cv2.LINE_AA)
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
