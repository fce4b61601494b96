"""Age accuracy on the UTKFace sample: mean absolute error of the full face path (detect -> align -> age).

Each 200x200 aligned chip is placed on a neutral grey canvas (the detector needs context around the
face); several canvas margins are used, so the number reflects detector/landmark jitter, not one lucky
placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devkit.bench import synth
from devkit.bench.media import read_image
from edge_agent.faces import FacePipeline

MARGINS = (60, 100, 150)


@dataclass(frozen=True)
class AgeSample:
    file: str
    true_age: int
    margin: int
    estimate: float  # NaN when no face passed the gate

    @property
    def error(self) -> float:
        return abs(self.estimate - self.true_age)


def utkface_files(utk_dir: Path) -> list[tuple[Path, int]]:
    """Chips and their true age (the file name's first number)."""
    return [(p, int(p.name.split("_", 1)[0])) for p in sorted(utk_dir.glob("*.jpg"))]


def on_canvas(chip: np.ndarray, margin: int, grey: int = 128) -> np.ndarray:
    h, w = chip.shape[:2]
    canvas = np.full((h + 2 * margin, w + 2 * margin, 3), grey, np.uint8)
    canvas[margin : margin + h, margin : margin + w] = chip
    return canvas


def measure_ages(pipeline: FacePipeline, utk_dir: Path, margins: Sequence[int] = MARGINS) -> list[AgeSample]:
    samples = []
    for path, true_age in utkface_files(utk_dir):
        chip = read_image(path)
        for margin in margins:
            faces = pipeline(on_canvas(chip, margin))
            estimate = float(faces.data["age"][np.argmax(faces.confidence)]) if len(faces) else float("nan")
            samples.append(AgeSample(path.name, true_age, margin, estimate))
    return samples


def mean_absolute_error(samples: Sequence[AgeSample]) -> tuple[float, int]:
    """(MAE over samples with an estimate, number of samples without one)."""
    errors = np.array([s.error for s in samples], dtype=np.float64)
    missing = int(np.isnan(errors).sum())
    return (float(np.nanmean(errors)) if missing < len(errors) else float("nan")), missing


def _best_face_age(pipeline: FacePipeline, source: np.ndarray, faces) -> float:
    if len(faces) == 0:
        return float("nan")
    i = int(np.argmax(faces.confidence))
    ages, _ = pipeline.age.estimate(pipeline.age.probabilities(source, faces.landmarks[i : i + 1]))
    return float(ages[0])


def _degrade(pipeline: FacePipeline, canvas: np.ndarray, variant: str, stops: float) -> np.ndarray:
    if variant == "backlit":
        return synth.backlit(canvas, pipeline.finder.detector(canvas).xyxy, stops)
    return synth.dark(canvas, stops)


def measure_ages_degraded(
    pipeline: FacePipeline, utk_dir: Path, variant: str, stops: float, margins: Sequence[int] = MARGINS
) -> dict[str, list[AgeSample]]:
    """Age on backlit/dark versions of the chips, read from the raw frame vs the enhanced frame the
    pipeline uses (same faces and landmarks for both; the quality gate is bypassed so the sets match)."""
    out: dict[str, list[AgeSample]] = {"raw frame": [], "enhanced frame": []}
    for path, true_age in utkface_files(utk_dir):
        for margin in margins:
            frame = _degrade(pipeline, on_canvas(read_image(path), margin), variant, stops)
            found = pipeline.finder(frame)
            for key, source in (("raw frame", frame), ("enhanced frame", found.source)):
                estimate = _best_face_age(pipeline, source, found.faces)
                out[key].append(AgeSample(path.name, true_age, margin, estimate))
    return out
