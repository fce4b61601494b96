"""Measuring face-api.js AgeGenderNet crops and age intervals on utk_decades (UTKFace chips, 150 per decade).

Each 200x200 chip is one face: YuNet finds its box and landmarks on the chip itself (chips where it
finds nothing are counted, not dropped silently), every crop variant is cut around that box, and the
error is reported per decade of true age so that a variant cannot look good by serving only the
crowded middle ages. UTKFace was among the network's training sets: numbers here are optimistic and
small differences between variants should not be read as real.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge_agent.attributes.age_calibration import AgeErrorModel
from edge_agent.attributes.age_faceapi import FaceApiAgeEstimator
from edge_agent.attributes.faceapi_crops import CropPolicy

DECADES = 9  # 0-9 ... 80-89
ADULT_RANGE = (18, 75)
CDF_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0)


@dataclass(frozen=True)
class LabelledChip:
    path: Path
    true_age: int

    @property
    def decade(self) -> int:
        return min(self.true_age // 10, DECADES - 1)


@dataclass(frozen=True)
class ChipFace:
    """YuNet's most confident face on a chip; box None when it found none."""

    box: np.ndarray | None  # (4,) xyxy
    landmarks: np.ndarray | None  # (5, 2)


@dataclass(frozen=True)
class Variant:
    """A crop policy, or the whole chip as the face (face-api.js's own test setting)."""

    policy: CropPolicy
    whole_chip: bool = False


@dataclass(frozen=True)
class AgeErrors:
    per_decade: tuple[float, ...]  # MAE per decade of true age
    balanced: float  # mean of per_decade
    adult: float  # MAE over true ages 18..75
    faces: int  # chips with an estimate
    missing: int  # chips without one (no detection)


@dataclass(frozen=True)
class VariantReport:
    name: str
    errors: AgeErrors
    ms_per_face_single: float
    ms_per_face_batch8: float
    view_ages: np.ndarray  # (V, N) per view and chip, NaN where missing


def utk_chips(utk_dir: Path, per_decade: int | None = None) -> list[LabelledChip]:
    """Chips with their true age (the number before the first '_'). With `per_decade`, that many of
    each decade, evenly spaced through the decade's chips sorted by age then name: reproducible, and
    spanning the decade rather than only its first ages."""
    chips = [LabelledChip(p, int(p.name.split("_", 1)[0])) for p in sorted(Path(utk_dir).glob("*.jpg"))]
    if per_decade is None:
        return chips
    subset = []
    for decade in range(DECADES):
        members = sorted((c for c in chips if c.decade == decade), key=lambda c: (c.true_age, c.path.name))
        picks = np.unique(np.linspace(0, len(members) - 1, min(per_decade, len(members))).round().astype(int))
        subset += [members[i] for i in picks] if members else []
    return subset


def read_chip(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image


def tilted(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image rotated about its centre, same size, black corners: a head tilted in the frame."""
    if degrees == 0.0:
        return image
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def detect_chip_faces(
    images: Sequence[np.ndarray], yunet_path: Path, score_threshold: float = 0.6
) -> list[ChipFace]:
    """YuNet (cv2.FaceDetectorYN) on each chip; the most confident face, or an empty ChipFace."""
    net = cv2.FaceDetectorYN.create(str(yunet_path), "", (32, 32), score_threshold, 0.3, 50)
    faces = []
    for image in images:
        net.setInputSize((image.shape[1], image.shape[0]))
        _, raw = net.detect(image)
        if raw is None or len(raw) == 0:
            faces.append(ChipFace(None, None))
            continue
        best = raw[int(np.argmax(raw[:, 14]))].astype(np.float64)
        box = np.array([best[0], best[1], best[0] + best[2], best[1] + best[3]])
        faces.append(ChipFace(box, best[4:14].reshape(5, 2)))
    return faces


def _face_of(
    image: np.ndarray, face: ChipFace, variant: Variant
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if variant.whole_chip:
        return np.array([0.0, 0.0, image.shape[1], image.shape[0]]), None
    return face.box, face.landmarks


def predict_views(
    estimator: FaceApiAgeEstimator, images: Sequence[np.ndarray], faces: Sequence[ChipFace], variant: Variant
) -> np.ndarray:
    """(V, N) age per view per chip for `variant` (the estimator's policy is set per variant)."""
    out = np.full((variant.policy.views, len(images)), np.nan)
    for i, (image, face) in enumerate(zip(images, faces, strict=True)):
        box, lms = _face_of(image, face, variant)
        if box is None:
            continue
        ages, _ = estimator.view_predictions(image, box[None], None if lms is None else lms[None])
        out[:, i] = ages[:, 0]
    return out


def age_errors(true_ages: np.ndarray, estimates: np.ndarray) -> AgeErrors:
    """MAE per decade, decade-balanced and over adults; NaN estimates count as missing."""
    true_ages = np.asarray(true_ages, np.float64)
    have = ~np.isnan(estimates)
    err = np.abs(estimates - true_ages)
    decade = np.minimum(true_ages // 10, DECADES - 1)
    per = tuple(float(err[have & (decade == d)].mean()) for d in range(DECADES))
    adult = have & (true_ages >= ADULT_RANGE[0]) & (true_ages <= ADULT_RANGE[1])
    return AgeErrors(per, float(np.mean(per)), float(err[adult].mean()), int(have.sum()), int((~have).sum()))


# FairFace labels an age range, not an age. Its bins, and its validation split's age mix (counts of
# its 10,954 faces): a population with many 20-39 and few over 70, unlike utk_decades' flat decades.
FAIRFACE_BINS = ((0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200))
FAIRFACE_MIX = (199, 1356, 1181, 3300, 2330, 1353, 796, 321, 118)


@dataclass(frozen=True)
class PopulationErrors:
    """The same faces weighed as other populations would weigh them, and FairFace's range metric.

    The distance to the range is how far the estimate lies outside the labelled bin [lo, hi] (0
    inside; a 29.5 estimate for a 20-29 face counts 0.5): stricter than [lo, hi + 1)."""

    fairface_mix_mae: float  # |error| with chips resampled to FairFace's age mix
    distance_per_bin: tuple[float, ...]  # mean distance to the range, per FairFace bin
    distance_balanced: float  # mean over the bins (a sample with as many faces per bin)
    distance_mix: float  # the same, FairFace's age mix
    inside_mix: float  # share inside their range, FairFace's age mix


def fairface_bin(true_ages: np.ndarray) -> np.ndarray:
    lows = np.array([lo for lo, _ in FAIRFACE_BINS])
    return np.searchsorted(lows, np.asarray(true_ages, np.float64), side="right") - 1


def population_errors(true_ages: np.ndarray, estimates: np.ndarray) -> PopulationErrors:
    true_ages = np.asarray(true_ages, np.float64)
    have = np.isfinite(estimates)
    b = fairface_bin(true_ages)
    lo = np.array([FAIRFACE_BINS[i][0] for i in b], np.float64)
    hi = np.array([FAIRFACE_BINS[i][1] for i in b], np.float64)
    est = np.where(have, estimates, 0.0)
    dist = np.maximum(0.0, np.maximum(lo - est, est - hi))
    counts = np.bincount(b[have], minlength=len(FAIRFACE_BINS)).astype(np.float64)
    w = np.where(have, np.asarray(FAIRFACE_MIX, np.float64)[b] / np.maximum(counts[b], 1.0), 0.0)
    per_bin = tuple(float(dist[have & (b == i)].mean()) if counts[i] else float("nan") for i in range(len(counts)))
    return PopulationErrors(
        fairface_mix_mae=float(np.sum(w * np.abs(est - true_ages)) / w.sum()),
        distance_per_bin=per_bin,
        distance_balanced=float(np.nanmean(per_bin)),
        distance_mix=float(np.sum(w * dist) / w.sum()),
        inside_mix=float(np.sum(w * (dist == 0)) / w.sum()),
    )


def decade_folds(true_ages: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per chip, stratified by decade: each decade's chips shuffled and dealt round-robin."""
    rng = np.random.default_rng(seed)
    decade = np.minimum(np.asarray(true_ages) // 10, DECADES - 1).astype(int)
    out = np.zeros(len(decade), int)
    for d in range(DECADES):
        idx = np.flatnonzero(decade == d)
        rng.shuffle(idx)
        out[idx] = np.arange(len(idx)) % folds
    return out


def _tiled(images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Chips side by side in one frame (N faces in one frame) and each chip's x offset in it."""
    frame = np.concatenate(list(images), axis=1)
    return frame, np.cumsum([0] + [im.shape[1] for im in images[:-1]]).astype(np.float64)


def ms_per_face(
    estimator: FaceApiAgeEstimator,
    images: Sequence[np.ndarray],
    faces: Sequence[ChipFace],
    variant: Variant,
    batch: int,
    repeats: int = 10,
) -> float:
    """Median wall time of estimator.estimate (crops + one session.run) per face, `batch` faces a frame."""
    found = [(im, *_face_of(im, f, variant)) for im, f in zip(images, faces, strict=True)]
    found = [row for row in found if row[1] is not None][:batch]
    frame, offsets = _tiled([row[0] for row in found])
    boxes = np.stack([row[1] + [o, 0, o, 0] for row, o in zip(found, offsets, strict=True)])
    lms = None
    if not variant.whole_chip:
        lms = np.stack([row[2] + [o, 0] for row, o in zip(found, offsets, strict=True)])
    estimator.estimate(frame, boxes, lms)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.estimate(frame, boxes, lms)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times)) / len(boxes)


def measure_variants(
    estimator: FaceApiAgeEstimator,
    chips: Sequence[LabelledChip],
    yunet_path: Path,
    variants: Mapping[str, Variant],
    timing_repeats: int = 10,
    roll_deg: float = 0.0,
) -> list[VariantReport]:
    """One report per variant: errors per decade, balanced and 18-75, and ms per face (1 and 8 a frame).
    `roll_deg` tilts every chip (alternately left and right) first, to see what alignment buys."""
    images = [tilted(read_chip(c.path), roll_deg if i % 2 else -roll_deg) for i, c in enumerate(chips)]
    faces = detect_chip_faces(images, yunet_path)
    true = np.array([c.true_age for c in chips], np.float64)
    reports = []
    for name, variant in variants.items():
        est = estimator.with_policy(variant.policy)
        views = predict_views(est, images, faces, variant)
        reports.append(
            VariantReport(
                name=name,
                errors=age_errors(true, views.mean(axis=0)),
                ms_per_face_single=ms_per_face(est, images, faces, variant, 1, timing_repeats),
                ms_per_face_batch8=ms_per_face(est, images, faces, variant, 8, timing_repeats),
                view_ages=views,
            )
        )
    return reports


def _nll(errors: np.ndarray, scale: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Laplace negative log-likelihood (summed over the last axis): a robust way to fit the
    error scale, not a claim about the error's shape (that comes from the empirical CDF)."""
    return np.sum(weights * (np.log(scale) + errors / scale), axis=-1)


KNEES = (20.0, 30.0, 40.0, 50.0, 60.0, 90.0)
SPREAD_GAINS = tuple(np.linspace(0.0, 4.0, 9))


def _fit_scale(ages: np.ndarray, spread: np.ndarray, errors: np.ndarray, weights: np.ndarray) -> tuple[float, ...]:
    """(nll, base, slope, knee, gain) minimising the Laplace NLL over a coarse grid; coarse on purpose,
    so the fit cannot chase the quirks of one data set."""
    bases, slopes = np.linspace(0.25, 8.0, 32), np.linspace(0.0, 0.5, 51)
    best: tuple[float, ...] = (np.inf, 1.0, 0.0, 90.0, 0.0)
    gains = SPREAD_GAINS if np.any(spread > 0) else (0.0,)
    for knee in KNEES:
        capped = np.clip(ages, 0.0, knee)
        for gain in gains:
            spread_term = (gain * spread) ** 2
            for base in bases:
                level = base + slopes[:, None] * capped[None, :]
                nll = _nll(errors[None, :], np.sqrt(level**2 + spread_term[None, :]), weights[None, :])
                i = int(np.argmin(nll))
                best = min(best, (float(nll[i]), float(base), float(slopes[i]), knee, float(gain)))
    return best


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of `values` where each counts `weights` times (the plain quantile for equal weights)."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = (np.cumsum(w) - 0.5 * w) / np.sum(w)
    return np.interp(levels, cum, v)


def fit_error_model(
    ages: np.ndarray, spread: np.ndarray, true_ages: np.ndarray, weights: np.ndarray | None = None
) -> AgeErrorModel:
    """Error scale (base + slope * min(estimate, knee), widened by the views' spread) by grid search,
    then the empirical distribution of |error| / scale. Inputs with NaN estimates are ignored; `weights`
    let one chip seen several ways count once."""
    have = ~np.isnan(ages)
    w = np.ones(len(ages)) if weights is None else np.asarray(weights, np.float64)
    ages, spread, errors, w = ages[have], spread[have], np.abs(true_ages[have] - ages[have]), w[have]
    _, base, slope, knee, gain = _fit_scale(ages, spread, errors, w)
    model = AgeErrorModel(base, slope, knee, gain, (0.0, 1.0), (0.0, 1.0))
    normalised = errors / model.scale(ages, spread)
    cdf_x = weighted_quantiles(normalised, w, CDF_LEVELS)
    cdf_x[0], cdf_x[-1] = 0.0, float(normalised.max())
    return replace(model, cdf_x=tuple(float(x) for x in np.maximum.accumulate(cdf_x)), cdf_p=CDF_LEVELS)


@dataclass(frozen=True)
class Coverage:
    per_decade: tuple[float, ...]  # fraction of faces whose true age lies in the interval
    overall: float
    mean_width: tuple[float, ...]  # mean interval width (years) per decade


def interval_coverage(true_ages: np.ndarray, low: np.ndarray, high: np.ndarray) -> Coverage:
    have = ~np.isnan(low)
    true_ages = np.asarray(true_ages, np.float64)
    inside = (true_ages >= low) & (true_ages <= high)
    decade = np.minimum(true_ages // 10, DECADES - 1)
    sel = [have & (decade == d) for d in range(DECADES)]
    return Coverage(
        per_decade=tuple(float(inside[s].mean()) for s in sel),
        overall=float(inside[have].mean()),
        mean_width=tuple(float((high - low)[s].mean()) for s in sel),
    )


def out_of_fold_coverage(
    view_ages: np.ndarray, true_ages: np.ndarray, level: float = 0.8, folds: int = 2
) -> tuple[Coverage, list[AgeErrorModel]]:
    """Coverage of intervals from error models fitted on the other folds (chips assigned round-robin),
    so the number is not the fit grading itself; and the per-fold models, to see how stable they are."""
    ages, spread = view_ages.mean(axis=0), view_ages.std(axis=0)
    fold = np.arange(len(ages)) % folds
    low, high = np.full(len(ages), np.nan), np.full(len(ages), np.nan)
    models = []
    for f in range(folds):
        test = fold == f
        model = fit_error_model(ages[~test], spread[~test], true_ages[~test])
        half = model.half_width(ages[test], spread[test], level)
        low[test], high[test] = np.maximum(ages[test] - half, 0.0), ages[test] + half
        models.append(model)
    low[np.isnan(ages)] = np.nan
    return interval_coverage(true_ages, low, high), models
