"""Face detection that survives backlight: a second pass on an enhanced copy when the scene needs it.

The first pass always runs on the raw frame and its faces are always kept, so a normal frame can
never lose a face to enhancement; the second pass only adds faces (merged by NMS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.detect.faces import FaceDetector, merge_passes
from edge_agent.enhance.adaptive import AdaptiveEnhancer, Decision
from edge_agent.types import Detections


@dataclass(frozen=True)
class PassResult:
    faces: Detections
    decision: Decision
    source: (
        np.ndarray
    )  # the frame face attributes should be read from (enhanced when the scene was not normal)


class TwoPassDetector:
    def __init__(self, detector: FaceDetector, enhancer: AdaptiveEnhancer) -> None:
        self.detector = detector
        self.enhancer = enhancer

    def __call__(self, frame_bgr: np.ndarray) -> PassResult:
        faces = self.detector(frame_bgr)
        decision = self.enhancer.decide(frame_bgr, faces)
        if not decision.enhance:
            return PassResult(faces, decision, frame_bgr)
        enhanced = self.enhancer.apply(frame_bgr, decision)
        faces = merge_passes(faces, self.detector(enhanced), self.enhancer.cfg.merge_iou)
        # Dark faces read (and age) better on the enhanced copy; a normal scene keeps the original pixels.
        return PassResult(faces, decision, enhanced if decision.kind != "normal" else frame_bgr)
