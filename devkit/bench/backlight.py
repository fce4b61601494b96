"""Backlight benchmark: face recall on synthetic backlit and dark variants, with and without enhancement.

Reference faces are the detections on the ORIGINAL images (enhancement off); recall is the share of
them found again (IoU >= 0.5) on each variant. See bench/synth.py for the recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devkit.bench import synth
from devkit.bench.media import FACE_IMAGES, matched, read_image
from edge_agent.detect.faces import FaceDetector
from edge_agent.enhance.adaptive import AdaptiveEnhancer
from edge_agent.enhance.two_pass import TwoPassDetector
from storelens.config.enhance import EnhanceConfig

MODES = ("off", "auto", "always")


@dataclass(frozen=True)
class RecallRow:
    variant: str  # original, backlit, dark
    stops: float
    faces: int  # reference faces over all images
    found: dict[str, int]  # mode -> reference faces found again
    enhanced: int  # images the auto mode chose to enhance

    def recall(self, mode: str) -> float:
        return self.found[mode] / self.faces if self.faces else float("nan")


def _finders(detector: FaceDetector, base: EnhanceConfig) -> dict[str, TwoPassDetector]:
    return {
        m: TwoPassDetector(detector, AdaptiveEnhancer(base.model_copy(update={"mode": m}))) for m in MODES
    }


def _variants(image, reference, stops: Sequence[float]):
    yield "original", 0.0, image
    for s in stops:
        yield "backlit", s, synth.backlit(image, reference.xyxy, s)
    for s in stops:
        yield "dark", s, synth.dark(image, s)


def run_backlight(
    detector: FaceDetector, enhance: EnhanceConfig, faces_dir: Path, stops: Sequence[float]
) -> list[RecallRow]:
    finders = _finders(detector, enhance)
    totals: dict[tuple[str, float], dict] = {}
    for name in FACE_IMAGES:
        image = read_image(faces_dir / name)
        reference = detector(image)
        for variant, s, frame in _variants(image, reference, stops):
            row = totals.setdefault((variant, s), {"faces": 0, "enhanced": 0, **{m: 0 for m in MODES}})
            row["faces"] += len(reference)
            for mode, finder in finders.items():
                found = finder(frame)
                row[mode] += matched(reference.xyxy, found.faces.xyxy)
                row["enhanced"] += int(mode == "auto" and found.decision.enhance)
    return [
        RecallRow(v, s, t["faces"], {m: t[m] for m in MODES}, t["enhanced"]) for (v, s), t in totals.items()
    ]
