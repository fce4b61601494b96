"""Tiled person detection: tiles cover the frame with overlap, boxes come back in frame pixels, each
person once (pieces cut by tile edges or too tall for a tile are dropped)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.detect.tiling import TiledDetector, tile_layout
from edge_agent.types import Detections
from storelens.config.detect import TilingConfig


@pytest.mark.parametrize(("size", "rows", "tiles"), [((1280, 720), 1, 2), ((1920, 1080), 1, 2), ((1280, 720), 2, 8),
                                                     ((960, 540), 1, 2), ((720, 720), 1, 1)])
def test_tiles_cover_the_frame_with_overlap(size: tuple[int, int], rows: int, tiles: int) -> None:
    cfg = TilingConfig(enabled=True, rows=rows, overlap=0.2)
    layout = tile_layout(*size, cfg)
    assert len(layout) == tiles
    covered = np.zeros(size[::-1], bool)
    for x1, y1, x2, y2 in layout:
        assert x2 - x1 == y2 - y1 and x2 <= size[0] and y2 <= size[1]  # square, inside the frame
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = sorted({t[0] for t in layout})
    side = layout[0][2] - layout[0][0]
    assert all(b - a <= side * 0.8 + 1 for a, b in zip(xs, xs[1:], strict=False))  # >= 20 % overlap


class _Scripted:
    """A backend that 'sees' fixed frame-pixel people: those inside the crop, in crop pixels, cut at its edges."""

    def __init__(self, people: list[list[float]], frame: np.ndarray) -> None:
        self.people = np.array(people, np.float32)
        self.frame = frame

    def __call__(self, crop: np.ndarray) -> Detections:
        ys, xs = np.nonzero(np.all(self.frame == crop[0, 0], axis=2))  # where this crop starts (unique colours)
        x0, y0 = int(xs[0]), int(ys[0])
        h, w = crop.shape[:2]
        boxes = self.people - [x0, y0, x0, y0]
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1])
        keep = (boxes[:, 2] - boxes[:, 0] > 4) & (boxes[:, 3] - boxes[:, 1] > 4)
        return Detections(xyxy=boxes[keep], confidence=np.full(int(keep.sum()), 0.9, np.float32))


def test_each_person_once_in_frame_pixels() -> None:
    h, w = 720, 1280
    frame = np.arange(h * w * 3, dtype=np.uint32).reshape(h, w, 3).astype(np.uint8)
    frame[..., 0] = (np.arange(w)[None, :] % 256).astype(np.uint8)
    frame[..., 1] = (np.arange(w)[None, :] // 256).astype(np.uint8)
    frame[..., 2] = (np.arange(h)[:, None] % 256).astype(np.uint8)
    people = [[100, 300, 140, 400],   # small, inside one tile
              [600, 320, 650, 440],   # small, across the seam between the two tiles
              [900, 100, 1100, 700]]  # tall: the full frame's job; tiles see pieces
    detector = TiledDetector(_Scripted(people, frame), TilingConfig(enabled=True, min_frame_width=0), 0.45)
    out = detector(frame)
    assert len(out) == 3
    got = out.xyxy[np.argsort(out.xyxy[:, 0])]
    assert np.allclose(got, people, atol=1.5)


def test_narrow_frames_get_one_pass() -> None:
    calls = []

    def backend(crop: np.ndarray) -> Detections:
        calls.append(crop.shape)
        return Detections.empty()

    TiledDetector(backend, TilingConfig(enabled=True, min_frame_width=1000), 0.45)(np.zeros((480, 640, 3), np.uint8))
    assert calls == [(480, 640, 3)]
