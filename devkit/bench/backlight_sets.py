"""The backlight benchmark's image sets: what enhancement is tuned on, and what it is checked on.

Tuning and checking never share a rendering: the held-out sets use other photos (crowd frames with
faces, groups composed from other UTKFace chips) or the tuning photos at another scale with other
seeds, so the synthetic strengths (bench/synth.py draws them from the seed) differ too.

- tune: the four photos in faces/ at full size and at 0.6 (faces 20-70 px at the detector's
  640 px), seeds 0-1; plus groups of ten UTKFace chips (even-numbered files) on faceless street frames.
- heldout: the faces/ photos at 0.8 with seeds 1000-1001; the persons/ frames that show faces
  (seeds 1000-1002); groups of odd-numbered UTKFace chips, seeds 1000-1001, six at full size and six
  others at 0.5 (640x360, an IP camera's substream: faces 20-45 px).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from devkit.bench.media import FACE_IMAGES, read_image

SETS = ("tune", "heldout")
STREETS = ("market1501_frame_c1s1_001051.jpg", "market1501_frame_c3s1_000501.jpg", "pets2009_vtest_frame100.jpg")
FACE_PERSONS = ("group1_walking.jpg", "mot16_08_preview_input.jpg")  # the persons/ frames with faces
GROUP_SIZE = (1280, 720)
CHIPS_PER_GROUP = 10


@dataclass(frozen=True)
class BenchImage:
    group: str  # the row group in the report: faces, persons, utk
    name: str  # file (and scale) or composite number
    image: np.ndarray
    seeds: tuple[int, ...]  # one rendering of each variant per seed


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _paste(canvas: np.ndarray, chip: np.ndarray, x: int, y: int) -> None:
    """Blend a square chip in with a feathered ellipse, so the canvas shows no hard chip edges."""
    size = chip.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    alpha = np.clip((1 - (xx / 0.48) ** 2 - (yy / 0.5) ** 2) / 0.25, 0, 1)[:, :, None]
    region = canvas[y : y + size, x : x + size]
    region[:] = alpha * chip + (1 - alpha) * region


def utk_group(media: Path, chips: list[Path], number: int) -> np.ndarray:
    """Ten chips (80-170 px) in two rows of five on a faceless street frame, placed by `number`."""
    rng = np.random.default_rng(number)
    street = read_image(media / "persons" / STREETS[number % len(STREETS)])
    canvas = cv2.resize(street, GROUP_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
    cell_w, cell_h = GROUP_SIZE[0] // 5, GROUP_SIZE[1] // 2
    for k, index in enumerate(rng.choice(len(chips), CHIPS_PER_GROUP, replace=False)):
        size = int(rng.uniform(80, 170))
        chip = cv2.resize(read_image(chips[index]), (size, size), interpolation=cv2.INTER_AREA)
        x = (k % 5) * cell_w + int(rng.uniform(0, cell_w - size))
        y = (k // 5) * cell_h + int(rng.uniform(10, cell_h - size - 10))
        _paste(canvas, chip.astype(np.float32), x, y)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def _utk(
    media: Path, parity: int, numbers: range, seeds: tuple[int, ...], scale: float = 1.0
) -> Iterator[BenchImage]:
    chips = sorted((media / "utk_decades").glob("*.jpg"))[parity::2]
    group = "utk" if scale == 1.0 else f"utk@{scale:g}"
    for n in numbers:
        yield BenchImage(group, f"group {n}", _scaled(utk_group(media, chips, n), scale), seeds)


def _photos(folder: Path, names: tuple[str, ...], scale: float, seeds: tuple[int, ...], group: str):
    for name in names:
        label = name if scale == 1.0 else f"{name}@{scale:g}"
        yield BenchImage(group, label, _scaled(read_image(folder / name), scale), seeds)


def backlight_set(media: Path, name: str) -> Iterator[BenchImage]:
    """The images of one set (see the module docstring), read lazily: one at a time in memory."""
    if name == "tune":
        for scale in (1.0, 0.6):
            yield from _photos(media / "faces", FACE_IMAGES, scale, (0, 1), "faces")
        yield from _utk(media, 0, range(4), (0, 1))
    elif name == "heldout":
        yield from _photos(media / "faces", FACE_IMAGES, 0.8, (1000, 1001), "faces")
        yield from _photos(media / "persons", FACE_PERSONS, 1.0, (1000, 1001, 1002), "persons")
        yield from _utk(media, 1, range(100, 106), (1000, 1001))
        yield from _utk(media, 1, range(106, 112), (1000, 1001), scale=0.5)
    else:
        raise ValueError(f"unknown backlight set {name!r}; expected one of {', '.join(SETS)}")
