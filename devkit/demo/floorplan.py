"""Simple floor-plan images for synthetic stores: walls, entrance, display tables, as a PNG data URI."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np

PX_PER_M = 20


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
    """The plan as PNG bytes: white floor, dark walls with a gap for the entrance, grey fixtures."""
    w, h = int(width_m * PX_PER_M), int(height_m * PX_PER_M)
    img = np.full((h, w, 3), 250, dtype=np.uint8)
    cv2.rectangle(img, (1, 1), (w - 2, h - 2), (60, 60, 60), 4)
    x0, x1 = (int(v * PX_PER_M) for v in entrance_x)
    cv2.line(img, (x0, h - 2), (x1, h - 2), (250, 250, 250), 6)
    cv2.putText(img, "entrance", (x0, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    for f in fixtures:
        p0 = (int(f.x * PX_PER_M), int(f.y * PX_PER_M))
        p1 = (int((f.x + f.w) * PX_PER_M), int((f.y + f.h) * PX_PER_M))
        cv2.rectangle(img, p0, p1, (205, 205, 205), -1)
        cv2.rectangle(img, p0, p1, (120, 120, 120), 1)
        cv2.putText(img, f.name, (p0[0] + 3, p0[1] + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (40, 40, 40), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding of the floor plan failed")
    return buf.tobytes()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
