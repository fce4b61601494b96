"""Enhancement: scene classification, gamma choice, mode handling, the image operation, pass merging."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.detect.faces import merge_passes
from edge_agent.enhance.adaptive import AdaptiveEnhancer, choose_gamma, classify, decide
from edge_agent.enhance.scene import SceneStats
from edge_agent.enhance.two_pass import ScaledPass, TwoPassDetector, backlit_detector
from edge_agent.types import Detections
from storelens.config.detect import YuNetConfig
from storelens.config.enhance import EnhanceConfig
from storelens.config.models import ModelsConfig

CFG = EnhanceConfig()


def _stats(mean=0.5, bright=0.05, shadow=0.05, shadow_mean=0.35, face=None, clipped=0.0) -> SceneStats:
    return SceneStats(mean, bright, shadow, shadow_mean, face, clipped)


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
        # A flared door: the veil lifts every shadow, but a third of the frame is blown out.
        (_stats(mean=0.9, bright=0.8, shadow=0.0, shadow_mean=0.8, clipped=0.35), "backlit"),
        (_stats(mean=0.9, bright=0.8, shadow=0.0, shadow_mean=0.8, face=0.6, clipped=0.35), "backlit"),
        (_stats(mean=0.9, bright=0.8, shadow=0.0, shadow_mean=0.8, face=0.88, clipped=0.35), "normal"),  # lit faces
        (_stats(mean=0.8, bright=0.5, shadow=0.02, clipped=0.1), "normal"),  # a little glare on a white front
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


class FakeDetector:
    """Returns fixed faces (in the pixels of whatever it is given, scaled from a 100-px-wide frame)
    and records the shape of each frame it saw."""

    def __init__(self, boxes, scores, roll_deg: float = 0.0) -> None:
        self.boxes = np.array(boxes, np.float32).reshape(-1, 4)
        self.scores = np.array(scores, np.float32)
        self.roll = np.radians(roll_deg)
        self.seen: list[tuple[int, ...]] = []

    def __call__(self, frame: np.ndarray) -> Detections:
        self.seen.append(frame.shape)
        k = frame.shape[1] / 100.0
        boxes = self.boxes * k
        return Detections(xyxy=boxes, confidence=self.scores, landmarks=_upright_landmarks(boxes, self.roll))


def _upright_landmarks(boxes: np.ndarray, roll: float) -> np.ndarray:
    """Eyes, nose, mouth corners of a frontal face in each box, rotated by `roll` about its centre."""
    template = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.75], [0.65, 0.75]], np.float32) - 0.5
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]], np.float32)
    out = []
    for x1, y1, x2, y2 in boxes:
        size = np.array([x2 - x1, y2 - y1], np.float32)
        out.append((template * size) @ rot.T + [(x1 + x2) / 2, (y1 + y2) / 2])
    return np.array(out, np.float32).reshape(-1, 5, 2)


def test_scaled_pass_enlarges_narrow_frames_and_maps_faces_back():
    inner = FakeDetector([[10, 10, 20, 22]], [0.9])
    scaled = ScaledPass(inner, width=1280, max_upscale=1.5, base_width=640, max_face=80)
    faces = scaled(np.zeros((360, 640, 3), np.uint8))
    assert inner.seen == [(540, 960, 3)]  # enlarged 1.5x, not to the full 1280
    np.testing.assert_allclose(faces.xyxy, [[64, 64, 128, 140.8]], rtol=1e-5)  # back in frame pixels
    assert faces.landmarks is not None and faces.landmarks[0, 2, 0] == pytest.approx(96, rel=1e-5)


def test_scaled_pass_leaves_wide_frames_to_the_detector_and_drops_big_faces():
    inner = FakeDetector([[10, 10, 20, 22], [40, 10, 80, 60]], [0.9, 0.9])
    scaled = ScaledPass(inner, width=1280, max_upscale=1.5, base_width=640, max_face=80)
    faces = scaled(np.zeros((720, 1280, 3), np.uint8))
    assert inner.seen == [(720, 1280, 3)]
    # The big one is 512 px in the frame, 256 px as the 640-wide normal pass sees it: that pass's job.
    np.testing.assert_allclose(faces.xyxy, [[128, 128, 256, 281.6]], rtol=1e-5)


def _two_pass(first, second, backlit=None, **cfg) -> TwoPassDetector:
    class Both:  # the first call is the raw pass, the next the enhanced one
        calls = 0

        def __call__(self, frame):
            Both.calls += 1
            return (first if Both.calls == 1 else second)(frame)

    return TwoPassDetector(Both(), AdaptiveEnhancer(CFG.model_copy(update=cfg)), backlit)


def test_a_normal_frame_takes_the_single_pass_path_untouched():
    frame = _frame("normal")
    raw = FakeDetector([[10, 10, 30, 40]], [0.9])
    backlit = FakeDetector([[50, 10, 70, 40]], [0.9])
    finder = _two_pass(raw, FakeDetector([[50, 10, 70, 40]], [0.9]), backlit)
    result = finder(frame)
    assert result.decision.kind == "normal" and result.source is frame
    assert len(raw.seen) == 1 and backlit.seen == []
    np.testing.assert_array_equal(result.faces.xyxy, raw(frame).xyxy)


@pytest.mark.parametrize(("kind", "fine"), [("backlit", True), ("dark", False)])
def test_backlit_frames_get_the_finer_pass_and_dark_frames_the_plain_one(kind, fine):
    frame = _frame(kind)
    plain = FakeDetector([[45, 40, 52, 50]], [0.8])  # inside the dark region of both frames
    backlit = FakeDetector([[45, 40, 52, 50]], [0.8])
    finder = _two_pass(FakeDetector([], []), plain, backlit)
    result = finder(frame)
    assert result.decision.kind == kind and len(result.faces) == 1
    assert (len(backlit.seen), len(plain.seen)) == ((1, 0) if fine else (0, 1))
    assert result.source is not frame  # attributes are read from the enhanced copy


@pytest.mark.parametrize(
    ("box", "roll", "kept"),
    [
        ([45, 40, 52, 50], 0.0, True),  # a dark face in the doorway
        ([45, 40, 52, 50], 35.0, False),  # a tilted 'face': a pattern in the enhanced shadows
        ([5, 5, 15, 15], 0.0, False),  # on the blown-out street (luminance 240/255)
    ],
)
def test_second_pass_adds_only_dark_upright_faces_and_never_drops_first_pass_ones(box, roll, kept):
    frame = _frame("backlit")
    first = FakeDetector([[2, 2, 12, 12]], [0.9])  # a first-pass face on the bright street: always kept
    finder = _two_pass(first, FakeDetector([box], [0.8], roll_deg=roll), None)
    faces = finder(frame).faces
    assert len(faces) == 1 + int(kept)
    assert np.allclose(faces.xyxy[0], np.array([2, 2, 12, 12]) * 3.2)


def test_backlit_detector_is_off_with_enhancement_off_or_width_zero():
    plain = FakeDetector([], [])
    models = ModelsConfig()
    assert backlit_detector(YuNetConfig(), CFG.model_copy(update={"mode": "off"}), models, plain) is None
    assert backlit_detector(YuNetConfig(), CFG.model_copy(update={"backlit_width": 0}), models, plain) is None
    same_width = backlit_detector(YuNetConfig(input_width=640), CFG.model_copy(update={"backlit_width": 640}),
                                  models, plain)
    assert isinstance(same_width, ScaledPass) and same_width.detector is plain  # no second model loaded
