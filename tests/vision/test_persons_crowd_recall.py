"""Person recall on the crowd frames of ../shared/media/persons against hand-annotated reference boxes
(tests/data/persons/crowd_reference.json), per detector option, and tiled boxes in frame pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from devkit.bench.persons import load_reference, matched
from edge_agent.detect.boxes import box_iou
from edge_agent.detect.persons import build_backend, build_person_detector
from storelens.config.detect import TilingConfig, YoloxConfig

pytestmark = pytest.mark.vision

REFS = load_reference()


def _recall(cfg: YoloxConfig, models_cfg, media_dir) -> tuple[float, int, dict[str, int]]:
    detector = build_person_detector(cfg, models_cfg)
    found = people = fps = 0
    per = {}
    for name, ref in REFS.items():
        frame = cv2.imread(str(media_dir / "persons" / name))
        hits, false = matched(ref, detector(frame).xyxy, frame.shape)
        found, people, fps = found + hits, people + len(ref.people), fps + false
        per[name] = hits
    return found / people, fps, per


@pytest.mark.parametrize(
    ("name", "cfg", "floor"),
    [
        # Measured: old 416 square 0.757 (28 of 37), default 0.811, crowd 0.946, tiles 2 rows 0.946.
        ("old 416 square", YoloxConfig(keep_aspect=False), 0.7),
        ("default", YoloxConfig(), 0.78),
        ("crowd preset", YoloxConfig(target_scale=0.85, max_input_size=960), 0.9),
        ("tiles, 2 rows", YoloxConfig(keep_aspect=False, tiling=TilingConfig(enabled=True, min_frame_width=0, rows=2)),
         0.9),
    ],
)
def test_crowd_recall_floor(models_cfg, media_dir, name: str, cfg: YoloxConfig, floor: float) -> None:
    recall, false_positives, per = _recall(cfg, models_cfg, media_dir)
    print(f"{name}: recall {recall:.3f}, {false_positives} false positives, per frame {per}")
    assert recall >= floor, name
    assert false_positives <= 8, name


def test_larger_input_finds_more_in_the_crowd(models_cfg, media_dir) -> None:
    small = _recall(YoloxConfig(keep_aspect=False), models_cfg, media_dir)[2]["mot16_08_preview_input.jpg"]
    large = _recall(YoloxConfig(target_scale=0.85, max_input_size=960), models_cfg, media_dir)[2]
    assert large["mot16_08_preview_input.jpg"] >= small + 3


def test_tiled_boxes_are_frame_pixels(models_cfg, media_dir) -> None:
    frame = cv2.imread(str(media_dir / "persons" / "market1501_frame_c1s1_001051.jpg"))  # 1920x1080: tiles run
    tiled = build_person_detector(YoloxConfig(keep_aspect=False, tiling=TilingConfig(enabled=True)), models_cfg)(frame)
    whole = build_backend(YoloxConfig(keep_aspect=False), models_cfg)(frame)
    assert len(tiled) >= len(whole)
    assert (tiled.xyxy[:, [0, 2]] <= frame.shape[1]).all() and (tiled.xyxy[:, [1, 3]] <= frame.shape[0]).all()
    best = box_iou(whole.xyxy, tiled.xyxy).max(axis=1)
    assert (best >= 0.6).all()  # everyone the whole frame finds is found at the same place when tiled
    ref = REFS["market1501_frame_c1s1_001051.jpg"]
    assert np.sort(box_iou(ref.people, tiled.xyxy).max(axis=1))[-1] >= 0.7
