"""Enhancement: scene classification, gamma choice, mode handling, the image operation, pass merging."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.detect.faces import merge_passes
from edge_agent.enhance.adaptive import AdaptiveEnhancer, choose_gamma, classify, decide
from edge_agent.enhance.scene import SceneStats
from edge_agent.types import Detections
from storelens.config.enhance import EnhanceConfig

CFG = EnhanceConfig()


def _stats(mean=0.5, bright=0.05, shadow=0.05, shadow_mean=0.35, face=None) -> SceneStats:
    return SceneStats(mean, bright, shadow, shadow_mean, face)


@pytest.mark.parametrize(
    ("stats", "kind"),
    [
        (_stats(), "normal"),
        (_stats(bright=0.5, shadow=0.3, shadow_mean=0.1), "backlit"),  # bright street, dark doorway
        (_stats(bright=0.5, shadow=0.02), "normal"),  # bright but no shadow: an overcast shop front
        (_stats(bright=0.05, shadow=0.3), "normal"),  # shadowy but no bright background
        (_stats(mean=0.6, face=0.2), "backlit"),  # faces much darker than the scene
        (_stats(mean=0.6, face=0.45), "normal"),  # faces a bit darker than a white wall
        (_stats(mean=0.15, shadow=0.8, shadow_mean=0.08), "dark"),
        (_stats(mean=0.15, bright=0.3, shadow=0.6), "backlit"),  # dark room, bright window: backlight wins
    ],
)
def test_classify_scene(stats, kind):
    assert classify(stats, CFG) == kind


@pytest.mark.parametrize(
    ("stats", "kind", "gamma"),
    [
        (_stats(), "normal", 1.0),
        (_stats(face=0.2), "backlit", np.log(0.45) / np.log(0.2)),  # face luminance -> target
        (_stats(shadow_mean=0.1), "backlit", np.log(0.45) / np.log(0.1)),  # no faces: the shadows
        (_stats(mean=0.15), "dark", np.log(0.45) / np.log(0.15)),
        (_stats(mean=0.001), "dark", 0.3),  # clamped at min_gamma
        (_stats(face=0.7), "backlit", 1.0),  # never darkens
    ],
)
def test_choose_gamma(stats, kind, gamma):
    assert choose_gamma(stats, kind, CFG) == pytest.approx(gamma, rel=1e-6)


@pytest.mark.parametrize(
    ("mode", "stats", "enhance"),
    [
        ("off", _stats(mean=0.1), False),
        ("auto", _stats(), False),
        ("auto", _stats(mean=0.1), True),
        ("auto", _stats(bright=0.5, shadow=0.3), True),
        ("always", _stats(), True),
    ],
)
def test_modes(mode, stats, enhance):
    assert decide(stats, CFG.model_copy(update={"mode": mode})).enhance is enhance


def _frame(kind: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 12, (180, 320, 3), dtype=np.uint8)
    if kind == "normal":
        ramp = np.linspace(60, 200, 320, dtype=np.float32)[None, :, None]
        return (np.broadcast_to(ramp, (180, 320, 3)) + noise).astype(np.uint8)
    if kind == "dark":
        return noise + 10
    frame = np.full((180, 320, 3), 240, np.uint8)  # bright street
    frame[40:180, 100:220] = 25 + noise[40:180, 100:220]  # dark person in the doorway
    return frame


@pytest.mark.parametrize("kind", ["normal", "dark", "backlit"])
def test_enhancer_recognises_synthetic_scenes(kind):
    assert AdaptiveEnhancer(CFG).decide(_frame(kind)).kind == kind


def test_face_brightness_marks_a_scene_backlit():
    frame = np.full((180, 320, 3), 150, np.uint8)
    frame[60:120, 140:180] = 30  # a dim face on an evenly lit scene
    faces = Detections(xyxy=np.array([[140, 60, 180, 120]], np.float32))
    enhancer = AdaptiveEnhancer(CFG)
    assert enhancer.decide(frame).kind == "normal"
    decision = enhancer.decide(frame, faces)
    assert decision.kind == "backlit" and decision.stats.face_luminance == pytest.approx(30 / 255, abs=0.01)


def test_apply_brightens_dark_frames_and_returns_a_new_frame():
    frame = _frame("dark")
    before = frame.copy()
    enhancer = AdaptiveEnhancer(CFG)
    out = enhancer.apply(frame, enhancer.decide(frame))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out.mean() > 2 * frame.mean()
    assert np.array_equal(frame, before)


def _dets(boxes, scores) -> Detections:
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(
        xyxy=boxes, confidence=np.array(scores, np.float32), landmarks=np.zeros((len(boxes), 5, 2))
    )


@pytest.mark.parametrize(
    ("first", "second", "expected_boxes"),
    [
        (([[0, 0, 10, 10]], [0.9]), ([], []), [[0, 0, 10, 10]]),
        (([[0, 0, 10, 10]], [0.9]), ([[50, 50, 60, 60]], [0.7]), [[0, 0, 10, 10], [50, 50, 60, 60]]),
        (
            ([[0, 0, 10, 10]], [0.7]),
            ([[1, 0, 11, 10]], [0.9]),
            [[1, 0, 11, 10]],
        ),  # same face: best score kept
        (([[0, 0, 10, 10]], [0.9]), ([[1, 0, 11, 10]], [0.7]), [[0, 0, 10, 10]]),
        (([], []), ([[5, 5, 9, 9]], [0.8]), [[5, 5, 9, 9]]),
    ],
)
def test_merge_passes(first, second, expected_boxes):
    merged = merge_passes(_dets(*first), _dets(*second), iou=0.4)
    assert sorted(merged.xyxy.tolist()) == sorted(np.array(expected_boxes, np.float32).tolist())
    assert merged.landmarks is not None and len(merged.landmarks) == len(merged)


def test_config_refuses_unknown_keys_and_inverted_levels():
    with pytest.raises(ValueError, match="shadow_level must be below bright_level"):
        EnhanceConfig(shadow_level=0.9, bright_level=0.5)
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        EnhanceConfig(gamma=0.5)
