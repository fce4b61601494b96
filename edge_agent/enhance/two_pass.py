"""Face detection that survives backlight: a second pass on an enhanced copy when the scene needs it.

The first pass always runs on the raw frame and its faces are always kept, so a normal frame can
never lose a face to enhancement; the second pass only adds faces (merged by NMS). On a backlit
frame the second pass runs at a finer scale (edge.enhance.backlit_width): flare and stream
compression leave a dark face little contrast, and more pixels per face is what brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge_agent.attributes.quality import pose_from_landmarks
from edge_agent.detect.faces import FaceDetector, build_face_detector, merge_passes
from edge_agent.enhance.adaptive import AdaptiveEnhancer, Decision
from edge_agent.enhance.scene import face_luminances
from edge_agent.types import Detections
from storelens.config.detect import FaceDetectorConfig, ScrfdConfig, YuNetConfig
from storelens.config.enhance import EnhanceConfig
from storelens.config.models import ModelsConfig


@dataclass(frozen=True)
class PassResult:
    faces: Detections
    decision: Decision
    source: (
        np.ndarray
    )  # the frame face attributes should be read from (enhanced when the scene was not normal)


class ScaledPass:
    """A face detector that sees every frame `width` pixels wide: wider frames shrink inside the
    detector (its input width is `width`), narrower ones are enlarged here, at most `max_upscale`
    times, and the faces mapped back to frame pixels. Small dark faces need the pixels.

    It keeps only faces smaller than `max_face` pixels as the normal pass (input width `base_width`)
    sees them: bigger faces that pass finds itself, and a big face that only the enlarged frame shows
    is a pattern the enlargement made (a torso's badge, a mask's edge).
    """

    def __init__(self, detector: FaceDetector, width: int, max_upscale: float, base_width: int, max_face: int) -> None:
        self.detector = detector
        self.width = width
        self.max_upscale = max_upscale
        self.base_width = base_width
        self.max_face = max_face

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        frame_w = frame_bgr.shape[1]
        scale = min(self.max_upscale, self.width / frame_w)
        if scale <= 1.0:
            found = self.detector(frame_bgr)
        else:
            found = self.detector(cv2.resize(frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR))
            landmarks = None if found.landmarks is None else found.landmarks / scale
            found = replace(found, xyxy=found.xyxy / scale, landmarks=landmarks)
        side = np.minimum(found.widths, found.heights) * min(1.0, self.base_width / frame_w)
        return found.filter(side < self.max_face)


def backlit_detector(
    faces_cfg: FaceDetectorConfig, enhance: EnhanceConfig, models_cfg: ModelsConfig, detector: FaceDetector
) -> FaceDetector | None:
    """The second pass for backlit frames at enhance.backlit_width, or None: the plain `detector`."""
    if enhance.mode == "off" or enhance.backlit_width == 0:
        return None
    if isinstance(faces_cfg, YuNetConfig):  # shrinks to its input width: give it the width, enlarge here
        if enhance.backlit_width > faces_cfg.input_width:
            detector = build_face_detector(faces_cfg.model_copy(update={"input_width": enhance.backlit_width}),
                                           models_cfg)
        return ScaledPass(detector, enhance.backlit_width, enhance.backlit_max_upscale, faces_cfg.input_width,
                          enhance.backlit_max_face)
    if isinstance(faces_cfg, ScrfdConfig) and enhance.backlit_width > faces_cfg.input_size:
        # SCRFD letterboxes every frame to a square of input_size: a larger square is the finer pass.
        size = min(enhance.backlit_width, 1920)
        return build_face_detector(faces_cfg.model_copy(update={"input_size": size}), models_cfg)
    return None


class TwoPassDetector:
    def __init__(
        self, detector: FaceDetector, enhancer: AdaptiveEnhancer, backlit: FaceDetector | None = None
    ) -> None:
        self.detector = detector
        self.enhancer = enhancer
        self.backlit = backlit  # the finer second pass for backlit frames; None: the same detector

    @classmethod
    def from_config(
        cls, detector: FaceDetector, faces_cfg: FaceDetectorConfig, enhance: EnhanceConfig, models_cfg: ModelsConfig
    ) -> TwoPassDetector:
        return cls(detector, AdaptiveEnhancer(enhance), backlit_detector(faces_cfg, enhance, models_cfg, detector))

    def __call__(self, frame_bgr: np.ndarray) -> PassResult:
        faces = self.detector(frame_bgr)
        decision = self.enhancer.decide(frame_bgr, faces)
        if not decision.enhance:
            return PassResult(faces, decision, frame_bgr)
        enhanced = self.enhancer.apply(frame_bgr, decision)
        # Dark frames stay at the detector's scale: there noise, not contrast, hides faces, and the
        # detector's own downscaling averages it away (bench backlight: dark -5 stops loses faces finer).
        second = self.backlit if decision.kind == "backlit" and self.backlit is not None else self.detector
        faces = merge_passes(faces, self._guard(frame_bgr, second(enhanced)), self.enhancer.cfg.merge_iou)
        # Dark faces read (and age) better on the enhanced copy; a normal scene keeps the original pixels.
        return PassResult(faces, decision, enhanced if decision.kind != "normal" else frame_bgr)

    def _guard(self, frame_bgr: np.ndarray, found: Detections) -> Detections:
        """The second pass's faces that are dark on the raw frame and upright.

        That pass exists for faces too dark or veiled to see; on a blown-out street CLAHE turns
        compression noise into 'faces', and a tilted 'face' in an enhanced torso or a mask edge is
        a pattern, not a visitor walking in (second_pass_max_luminance, second_pass_max_roll_deg).
        """
        cfg = self.enhancer.cfg
        if len(found) == 0:
            return found
        keep = face_luminances(frame_bgr, found) <= cfg.second_pass_max_luminance  # NaN (off the frame): dropped
        if found.landmarks is not None:
            keep &= np.abs(pose_from_landmarks(found.landmarks)[1]) <= cfg.second_pass_max_roll_deg
        return found.filter(np.flatnonzero(keep))
