"""Person detectors on real frames: both backends find the people, in original pixels, chosen by `type`."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.detect.persons import (
    NanoDetPersonDetector,
    YoloxPersonDetector,
    build_backend,
    build_person_detector,
)
from edge_agent.tracking.appearance import DIM
from storelens.config.detect import NanoDetConfig, YoloxConfig

pytestmark = pytest.mark.vision


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@pytest.fixture(scope="module")
def detectors(models_cfg):
    return {c.type: build_person_detector(c, models_cfg) for c in (YoloxConfig(), NanoDetConfig())}


def test_type_picks_the_backend(models_cfg) -> None:
    assert isinstance(build_backend(YoloxConfig(), models_cfg), YoloxPersonDetector)
    assert isinstance(build_backend(NanoDetConfig(), models_cfg), NanoDetPersonDetector)


def test_detections_carry_colour_for_the_tracker(detectors, media_dir) -> None:
    frame = cv2.imread(str(media_dir / "persons" / "pets2009_vtest_frame100.jpg"))
    people = detectors["yolox"](frame)
    assert people.data["colour"].shape == (len(people), DIM)
    assert np.allclose(np.linalg.norm(people.data["colour"], axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize(("image", "min_people"), [("pets2009_vtest_frame100.jpg", 4), ("group1_walking.jpg", 3)])
def test_backends_find_the_same_people(detectors, media_dir, image: str, min_people: int) -> None:
    frame = cv2.imread(str(media_dir / "persons" / image))
    yolox, nanodet = detectors["yolox"](frame), detectors["nanodet"](frame)
    assert len(yolox) >= min_people
    assert set(yolox.class_id.tolist()) == {0}
    h, w = frame.shape[:2]
    assert (yolox.xyxy[:, [0, 2]] <= w).all() and (yolox.xyxy[:, [1, 3]] <= h).all()
    assert (yolox.heights > yolox.widths).mean() >= 0.8  # standing people are taller than wide
    # Two independent networks agree on most people: evidence that both decoders map back correctly.
    matched = (_iou(yolox.xyxy, nanodet.xyxy).max(axis=1) >= 0.5).mean()
    assert matched >= 0.6


def test_boxes_are_in_original_pixels_at_any_resolution(detectors, media_dir) -> None:
    frame = cv2.imread(str(media_dir / "persons" / "pets2009_vtest_frame100.jpg"))
    small = detectors["yolox"](frame)
    big = detectors["yolox"](cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR))
    best = _iou(small.xyxy * 2, big.xyxy).max(axis=1)
    assert (best >= 0.6).mean() >= 0.8


def test_empty_scene_gives_no_people(detectors) -> None:
    blank = np.full((360, 480, 3), 127, np.uint8)
    assert len(detectors["yolox"](blank)) == 0 and len(detectors["nanodet"](blank)) == 0
