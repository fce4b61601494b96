"""Age benchmarks behind `storelens bench age`.

- `decade_report`: one age stage (faceapi_age or age_v1) on an age-labelled set (utk_decades: 150
  UTKFace chips per decade of age): error per decade, decade-balanced, 18-75, ms per face, and how
  often the true age lies inside the stated interval. YuNet finds the box and landmarks on each chip;
  both models get the same faces.
- `simulate_visitors`: each chip seen several times through the whole face path (detect -> quality
  gate -> age) after jitter a walking visitor's faces show (size, roll, light, blur, JPEG), then the
  per-visitor vote (edge_agent/tracking/faces.py) over k of those faces: is the visitor's interval
  still honest, and does it shrink?
- `measure_ages` / `measure_ages_degraded`: the 8-chip UTKFace sample on grey canvases, raw and
  backlit / dark (bench/synth.py).
- `calibration_sample`: faceapi_age's own (uncalibrated) age per view on each chip and on camera-like
  renderings of it (`jittered_view`): what the calibration is fitted and cross-validated on
  (edge_agent/attributes/age_calfit.py).

UTKFace was among face-api.js AgeGenderNet's training sets: its figures here are optimistic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from devkit.bench import synth
from devkit.bench.media import read_image
from edge_agent.attributes.age_calfit import CalibrationSample
from edge_agent.attributes.age_eval import (
    AgeErrors,
    ChipFace,
    Coverage,
    LabelledChip,
    Variant,
    age_errors,
    detect_chip_faces,
    interval_coverage,
    predict_views,
    read_chip,
    utk_chips,
)
from edge_agent.attributes.age_faceapi import MIRROR_POLICY, FaceApiAgeEstimator
from edge_agent.attributes.age_stage import AgeStage
from edge_agent.faces import FacePipeline
from edge_agent.tracking.faces import combine, face_half_widths
from edge_agent.types import Detections

MARGINS = (60, 100, 150)


@dataclass(frozen=True)
class LabelledSet:
    chips: list[LabelledChip]
    images: list[np.ndarray]
    faces: list[ChipFace]  # YuNet's best face per chip (box None where it found none)

    @property
    def true_ages(self) -> np.ndarray:
        return np.array([c.true_age for c in self.chips], np.float64)


def load_labelled_set(set_dir: Path, yunet_path: Path, per_decade: int | None = None) -> LabelledSet:
    chips = utk_chips(set_dir, per_decade)
    images = [read_chip(c.path) for c in chips]
    return LabelledSet(chips, images, detect_chip_faces(images, yunet_path))


@dataclass(frozen=True)
class ModelReport:
    model: str
    errors: AgeErrors
    coverage: Coverage
    ms_per_face: float  # crops + model, 8 faces a frame, median wall time
    cpu_ms_per_face: float  # the same in CPU time of this process: steadier on a shared machine
    views: int
    level: float


def _one_face(face: ChipFace) -> Detections:
    return Detections(xyxy=face.box[None], landmarks=face.landmarks[None])


def stage_ages(stage: AgeStage, data: LabelledSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(age, age_low, age_high) per chip; NaN where YuNet found no face."""
    out = np.full((3, len(data.chips)), np.nan)
    for i, (image, face) in enumerate(zip(data.images, data.faces, strict=True)):
        if face.box is None:
            continue
        got = stage.update(image, _one_face(face)).data
        out[:, i] = got["age"][0], got["age_low"][0], got["age_high"][0]
    return out[0], out[1], out[2]


def stage_ms_per_face(stage: AgeStage, data: LabelledSet, batch: int = 8, repeats: int = 10) -> tuple[float, float]:
    """Median (wall, CPU) milliseconds of stage.update per face, `batch` faces in one frame (chips side by side)."""
    found = [(im, f) for im, f in zip(data.images, data.faces, strict=True) if f.box is not None][:batch]
    frame = np.concatenate([im for im, _ in found], axis=1)
    offsets = np.cumsum([0] + [im.shape[1] for im, _ in found[:-1]]).astype(np.float64)
    faces = Detections(
        xyxy=np.stack([f.box + [o, 0, o, 0] for (_, f), o in zip(found, offsets, strict=True)]),
        landmarks=np.stack([f.landmarks + [o, 0] for (_, f), o in zip(found, offsets, strict=True)]),
    )
    stage.update(frame, faces)  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        stage.update(frame, faces)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000.0 * float(np.median(wall)) / len(faces), 1000.0 * float(np.median(cpu)) / len(faces)


def decade_report(stage: AgeStage, data: LabelledSet, repeats: int = 10) -> ModelReport:
    age, low, high = stage_ages(stage, data)
    wall_ms, cpu_ms = stage_ms_per_face(stage, data, repeats=repeats)
    return ModelReport(
        model=stage.model,
        errors=age_errors(data.true_ages, age),
        coverage=interval_coverage(data.true_ages, low, high),
        ms_per_face=wall_ms,
        cpu_ms_per_face=cpu_ms,
        views=stage.views,
        level=stage.cfg.interval_level,
    )


# --- simulated visitors ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Jitter:
    """What changes between the faces of one visitor walking past a camera (uniform ranges). Pose and
    expression are not simulated: with them, real faces disagree more, so their errors are more
    independent than these and the measured shared fraction is an upper bound."""

    face_px: tuple[float, float] = (64.0, 200.0)  # chip side after resizing (the face is ~85 % of it)
    roll_deg: tuple[float, float] = (-12.0, 12.0)
    gain: tuple[float, float] = (0.6, 1.2)
    gamma: tuple[float, float] = (0.8, 1.25)
    blur_sigma: tuple[float, float] = (0.0, 1.2)
    jpeg_quality: tuple[int, int] = (55, 90)


def jittered_view(chip: np.ndarray, rng: np.random.Generator, jitter: Jitter = Jitter()) -> np.ndarray:
    """One synthetic camera frame of the chip's face: resized, rolled, relit, blurred, JPEG'd, on grey."""
    side = int(rng.uniform(*jitter.face_px))
    face = cv2.resize(chip, (side, side), interpolation=cv2.INTER_AREA)
    frame = on_canvas(face, max(40, side // 2))
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(*jitter.roll_deg), 1.0)
    frame = cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
    light = 255.0 * (frame / 255.0) ** rng.uniform(*jitter.gamma) * rng.uniform(*jitter.gain)
    frame = np.clip(light, 0, 255).astype(np.uint8)
    sigma = rng.uniform(*jitter.blur_sigma)
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    quality = int(rng.integers(jitter.jpeg_quality[0], jitter.jpeg_quality[1] + 1))
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else frame


@dataclass(frozen=True)
class VisitorViews:
    """Per chip and view: what the face path said (NaN where it found no face or the gate refused)."""

    true_ages: np.ndarray  # (N,)
    age: np.ndarray  # (N, V)
    half: np.ndarray  # (N, V) the vote's half-width (interval and quality)
    stated_low: np.ndarray  # (N, V) the per-face interval as the age stage states it
    stated_high: np.ndarray


def simulate_views(pipeline: FacePipeline, data: LabelledSet, views: int, seed: int = 0) -> VisitorViews:
    rng = np.random.default_rng(seed)
    n = len(data.chips)
    age, half, low, high = (np.full((n, views), np.nan) for _ in range(4))
    for i, chip in enumerate(data.images):
        for v in range(views):
            faces = pipeline(jittered_view(chip, rng))
            if len(faces) == 0:
                continue
            best = faces.filter(np.array([int(np.argmax(faces.confidence))]))
            age[i, v], low[i, v], high[i, v] = (float(best.data[k][0]) for k in ("age", "age_low", "age_high"))
            half[i, v] = face_half_widths(best)[0]
    return VisitorViews(data.true_ages, age, half, low, high)


def shared_error_fraction(sim: VisitorViews) -> float:
    """Share of the normalised error variance that a chip's views have in common (1 - within / total)."""
    norm = (sim.age - sim.true_ages[:, None]) / sim.half
    keep = np.sum(np.isfinite(norm), axis=1) >= 2
    norm = norm[keep]
    within = np.nanmean(np.nanvar(norm, axis=1, ddof=1))
    return float(1.0 - within / np.nanvar(norm))


@dataclass(frozen=True)
class VisitorReport:
    faces: int  # k good faces per visitor
    visitors: int  # chips with at least k good faces
    errors: AgeErrors
    coverage: Coverage


def visitor_reports(sim: VisitorViews, sizes: Sequence[int], shared: float) -> list[VisitorReport]:
    """The vote over the first k good faces of each chip, for each k in `sizes`."""
    reports = []
    for k in sizes:
        est = np.full((3, len(sim.true_ages)), np.nan)
        for i in range(len(sim.true_ages)):
            good = np.flatnonzero(np.isfinite(sim.age[i]))[:k]
            if len(good) == k:
                v = combine(sim.age[i, good], sim.half[i, good], shared)
                est[:, i] = v.age, v.low, v.high
        have = np.isfinite(est[0])
        reports.append(
            VisitorReport(
                faces=k,
                visitors=int(have.sum()),
                errors=age_errors(sim.true_ages, est[0]),
                coverage=interval_coverage(sim.true_ages, est[1], est[2]),
            )
        )
    return reports


def stated_face_coverage(sim: VisitorViews) -> Coverage:
    """Coverage of the per-face interval as stated (before the vote's quality widening), on all views."""
    reps = sim.age.shape[1]
    return interval_coverage(np.repeat(sim.true_ages, reps), sim.stated_low.ravel(), sim.stated_high.ravel())


# --- calibration sample ---------------------------------------------------------------------------

CAMERA_SEED = 1  # the camera-like renderings are reproducible: same seed, same views


def calibration_sample(
    estimator: FaceApiAgeEstimator, data: LabelledSet, yunet_path: Path, camera_views: int, seed: int = CAMERA_SEED
) -> CalibrationSample:
    """The network's own age for the mirror policy's two views (unflipped first, so the single-view
    policy is view 0) on each chip, and on `camera_views` camera-like renderings of each chip
    (`jittered_view`, YuNet run again on each rendering)."""
    variant = Variant(MIRROR_POLICY)
    est = estimator.with_policy(MIRROR_POLICY, calibration="none")
    clean = predict_views(est, data.images, data.faces, variant)
    rng = np.random.default_rng(seed)
    camera = np.full((camera_views, *clean.shape), np.nan)
    for r in range(camera_views):
        frames = [jittered_view(image, rng) for image in data.images]
        camera[r] = predict_views(est, frames, detect_chip_faces(frames, yunet_path), variant)
    return CalibrationSample(data.true_ages, clean, camera)


# --- the 8-chip sample on canvases ----------------------------------------------------------------


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


def _best_face_age(pipeline: FacePipeline, source: np.ndarray, faces: Detections) -> float:
    """The most confident face's age from `source`, past the quality gate (any backend)."""
    if len(faces) == 0:
        return float("nan")
    best = faces.filter(np.array([int(np.argmax(faces.confidence))]))
    return float(pipeline.age.update(source, best).data["age"][0])


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
