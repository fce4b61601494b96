"""FacePipeline: enhance -> detect -> quality gate -> age, on one frame. One instance per camera.

The video pipeline calls it per frame; the CLI and benchmarks call it per image. Frames and chips
stay in memory; only the returned Detections (numbers) leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_agent.attributes.age_stage import AgeStage, build_age_stage
from edge_agent.attributes.quality import QualityGate
from edge_agent.detect.faces import build_face_detector
from edge_agent.enhance.adaptive import Decision
from edge_agent.enhance.two_pass import TwoPassDetector
from edge_agent.types import Detections
from storelens.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable

    from storelens.config import StorelensConfig

    AgeWanted = Callable[[Detections], np.ndarray]


@dataclass(frozen=True)
class FaceResult:
    faces: Detections  # data: quality, quality_ok, age, age_confidence, age_low, age_high, band
    decision: Decision  # what the enhancer saw and did on this frame


class FacePipeline:
    def __init__(self, finder: TwoPassDetector, gate: QualityGate, age: AgeStage) -> None:
        self.finder = finder
        self.gate = gate
        self.age = age

    @classmethod
    def from_config(cls, cfg: StorelensConfig) -> FacePipeline:
        edge = cfg.edge
        detector = build_face_detector(edge.faces, cfg.models)
        return cls(
            finder=TwoPassDetector.from_config(detector, edge.faces, edge.enhance, cfg.models),
            gate=QualityGate(edge.quality),
            age=build_age_stage(edge.age, cfg.models),
        )

    def run(self, frame_bgr: np.ndarray, age_wanted: AgeWanted | None = None) -> FaceResult:
        """Faces of one frame; age for those that pass the quality gate and, when given,
        `age_wanted(faces)` (the video pipeline skips faces whose visitor's age is already settled)."""
        found = self.finder(frame_bgr)
        faces = self.gate.update(found.source, found.faces)
        eligible = np.asarray(faces.data["quality_ok"], bool)
        if age_wanted is not None and len(faces):
            eligible = eligible & age_wanted(faces)
        faces = self.age.update(found.source, faces, eligible=eligible)
        return FaceResult(faces=faces, decision=found.decision)

    def __call__(self, frame_bgr: np.ndarray, age_wanted: AgeWanted | None = None) -> Detections:
        return self.run(frame_bgr, age_wanted).faces


def read_image(path: str | Path) -> np.ndarray:
    """BGR image from a file, or InputError naming the file and what is wrong with it."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        what = (
            "empty file" if data.size == 0 else "not a decodable image (corrupt, truncated or unknown format)"
        )
        raise InputError(f"{path}: {what}")
    return image
