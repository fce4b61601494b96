"""`storelens bench persons`: person recall on hand-annotated crowd frames, per detector option, with ms/frame.

Reference boxes: tests/data/persons/crowd_reference.json (hand-annotated; see its `about`). A
reference person is found when a detection overlaps it at IoU >= 0.5 (one detection per person,
best overlaps first). Detections on 'ignore' regions (mostly hidden people, reflections) count
neither way; any other unmatched detection is a false positive. Boxes are compared inside the
frame (a box the detector widened past the frame edge is clipped back to what is visible).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.detect.boxes import box_iou
from edge_agent.detect.persons import build_person_detector
from storelens.config.detect import NanoDetConfig, PersonDetectorConfig, TilingConfig, YoloxConfig
from storelens.config.models import ModelsConfig
from storelens.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

REFERENCE = PROJECT_ROOT / "tests" / "data" / "persons" / "crowd_reference.json"
MIN_IOU = 0.5


@dataclass(frozen=True)
class Reference:
    people: np.ndarray
    ignore: np.ndarray


@dataclass(frozen=True)
class FrameScore:
    image: str
    people: int
    found: int
    false_positives: int
    ms: float

    @property
    def recall(self) -> float:
        return self.found / self.people if self.people else 1.0


def load_reference(path: Path = REFERENCE) -> dict[str, Reference]:
    data = json.loads(path.read_text())["images"]
    return {name: Reference(np.array(v["people"], np.float64).reshape(-1, 4),
                            np.array(v["ignore"], np.float64).reshape(-1, 4)) for name, v in data.items()}


def options() -> dict[str, PersonDetectorConfig]:
    """The detector options compared (all commercially usable: YOLOX-nano and NanoDet-m, Apache-2.0)."""
    every = TilingConfig(enabled=True, min_frame_width=0)
    square = YoloxConfig(keep_aspect=False)
    return {
        "yolox 416 square (old default)": square,
        "yolox default (long side 0.5x, 416-640)": YoloxConfig(),
        **{f"yolox long side {n}": YoloxConfig(input_size=n, max_input_size=n) for n in (640, 736, 832, 960)},
        "yolox crowd (0.85x, up to 960)": YoloxConfig(target_scale=0.85, max_input_size=960),
        "yolox 416 square, tiles 1 row + full": square.model_copy(update={"tiling": every}),
        "yolox 416 square, tiles 2 rows + full": square.model_copy(
            update={"tiling": every.model_copy(update={"rows": 2})}),
        "nanodet 320": NanoDetConfig(),
        "nanodet 320, tiles 1 row + full": NanoDetConfig(tiling=every),
    }


def matched(reference: Reference, found: np.ndarray, shape: tuple[int, ...] | None = None) -> tuple[int, int]:
    """(reference people found, false positives) with one-to-one matching at IoU >= MIN_IOU. With the
    frame's `shape`, boxes are clipped to it first: the reference boxes what is visible, and the
    detector widens people cut by the frame edge beyond it (edge_width_ratio)."""
    if shape is not None and len(found):
        found = np.clip(found, 0, [shape[1], shape[0], shape[1], shape[0]])
    iou = box_iou(reference.people, found) if len(found) else np.zeros((len(reference.people), 0))
    hits, used = 0, set()
    for i, j in sorted(np.argwhere(iou >= MIN_IOU).tolist(), key=lambda p: -iou[p[0], p[1]]):
        if i in used or ("d", j) in used:
            continue
        used.update({i, ("d", j)})
        hits += 1
    spare = [j for j in range(len(found)) if ("d", j) not in used]
    return hits, sum(not _ignored(found[j], reference.ignore) for j in spare)


def _ignored(box: np.ndarray, ignore: np.ndarray) -> bool:
    if len(ignore) == 0:
        return False
    lt, rb = np.maximum(box[:2], ignore[:, :2]), np.minimum(box[2:], ignore[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    return bool((inter / max(float(np.prod(box[2:] - box[:2])), 1e-6) >= 0.5).any())


def score_option(cfg: PersonDetectorConfig, models: ModelsConfig, media: Path, refs: dict[str, Reference],
                 repeat: int = 5) -> list[FrameScore]:
    detector = build_person_detector(cfg, models)
    out = []
    for name, ref in refs.items():
        frame = cv2.imread(str(media / "persons" / name))
        detector(frame)  # warm-up: first runs allocate
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            found = detector(frame)
            times.append((time.perf_counter() - t0) * 1000)
        hits, fps = matched(ref, found.xyxy, frame.shape)
        out.append(FrameScore(name, len(ref.people), hits, fps, float(np.median(times))))
    return out
