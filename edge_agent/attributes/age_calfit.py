"""Fitting and cross-validating the faceapi_age calibration (age_calibration.py) on age-labelled chips.

A `CalibrationSample` holds the network's age per view for every chip in two conditions:
- `clean`: the chip itself. UTKFace chips are tight: YuNet's box is clipped by the chip's top edge, so
  the crop holds less forehead and hair than a box in a real frame does;
- `camera`: camera-like views of the same chip (devkit/bench/age.py `jittered_view`: on a canvas, so
  the box is unclipped, 64-200 px, rolled, relit, blurred, JPEG'd). There the network reads people
  over 60 about 9 years too young instead of 5: the pull towards middle age that the map undoes is
  stronger in the condition the product (and any held-out set with context around the face) sees.

The map is fitted on both, each chip weighing 1 (half clean, half its camera views), so it neither
over-corrects the chips nor under-corrects the camera. `cross_validate` refits everything (map and
interval model) on the training folds only and scores the held-out fold in each condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.attributes.age_calibration import IDENTITY_MAP, AgeErrorModel, AgeMap
from edge_agent.attributes.age_eval import (
    AgeErrors,
    Coverage,
    PopulationErrors,
    age_errors,
    decade_folds,
    fit_error_model,
    interval_coverage,
    population_errors,
)

KNOTS = tuple(float(k) for k in range(0, 100, 10))  # network ages; few knots: a smooth map, not a lookup
CLEAN_SHARE = 0.5  # each chip's weight given to its clean view (the rest to its camera views)
SMOOTHING = 0.01  # LP penalty per year/year of slope change (on a mean |error| in years)
MIN_SLOPE = 0.5  # no segment may flatten: ordering between faces survives the map


@dataclass(frozen=True)
class CalibrationSample:
    true_ages: np.ndarray  # (N,)
    clean: np.ndarray  # (V, N) network age per view (NaN: no face found)
    camera: np.ndarray  # (R, V, N) the same for R camera-like renderings of each chip

    def subset(self, keep: np.ndarray) -> CalibrationSample:
        return CalibrationSample(self.true_ages[keep], self.clean[:, keep], self.camera[:, :, keep])

    def first_views(self, views: int) -> CalibrationSample:
        """Only the first `views` views (views are ordered as faceapi_crops.face_views gives them:
        the unflipped ones first, so 1 = the single-view policy)."""
        return CalibrationSample(self.true_ages, self.clean[:views], self.camera[:, :views])

    def conditions(self) -> list[np.ndarray]:
        """(V, N) view ages per condition: clean first, then each camera rendering."""
        return [self.clean, *self.camera]

    def condition_weights(self) -> list[float]:
        reps = len(self.camera)
        return [1.0] if reps == 0 else [CLEAN_SHARE] + [(1.0 - CLEAN_SHARE) / reps] * reps


def readout(view_ages: np.ndarray, age_map: AgeMap) -> tuple[np.ndarray, np.ndarray]:
    """(age, spread) as age_faceapi.summarise_views computes them: the map on the views' mean, the
    spread between the mapped views."""
    return age_map(view_ages.mean(axis=0)), age_map(view_ages).std(axis=0)


def fit_age_map(
    raw: np.ndarray,
    true_ages: np.ndarray,
    weights: np.ndarray,
    knots: Sequence[float] = KNOTS,
    smoothing: float = SMOOTHING,
    min_slope: float = MIN_SLOPE,
) -> AgeMap:
    """The monotone piecewise-linear map minimising the weighted mean |true - map(raw)| (so the map
    gives the conditional median: what minimises the absolute error), plus `smoothing` x the total
    change of slope between segments. A linear programme (scipy's HiGHS)."""
    from scipy import sparse
    from scipy.optimize import linprog

    have = np.isfinite(raw)
    x, y, w = raw[have], true_ages[have], weights[have] / weights[have].sum()
    k = np.asarray(knots, np.float64)
    seg = np.diff(k)
    basis = np.clip(x[:, None] - k[None, :-1], 0.0, seg[None, :])  # (n, S): years into each segment
    n, s = basis.shape
    # Variables: offset c (free), slopes d (S, >= min_slope), residuals u, v >= 0, slope changes t >= 0.
    eye = sparse.identity(n, format="csr")
    a_eq = sparse.hstack([np.ones((n, 1)), sparse.csr_matrix(basis), eye, -eye, sparse.csr_matrix((n, s - 1))])
    diff = sparse.diags([-np.ones(s - 1), np.ones(s - 1)], [0, 1], shape=(s - 1, s))
    pad = sparse.csr_matrix((s - 1, 1 + 2 * n)).tocsr()
    minus_t = -sparse.identity(s - 1)
    a_ub = sparse.vstack([
        sparse.hstack([pad[:, :1], diff, pad[:, 1:], minus_t]),
        sparse.hstack([pad[:, :1], -diff, pad[:, 1:], minus_t]),
    ])
    cost = np.concatenate([[0.0], np.zeros(s), w, w, np.full(s - 1, smoothing)])
    bounds = [(None, None)] + [(min_slope, None)] * s + [(0.0, None)] * (2 * n + s - 1)
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(2 * (s - 1)), A_eq=a_eq, b_eq=y, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"age map fit failed: {res.message}")
    offset, slopes = res.x[0], res.x[1 : 1 + s]
    values = offset + np.concatenate([[0.0], np.cumsum(slopes * seg)])
    return AgeMap(tuple(float(v) for v in k), tuple(float(v) for v in np.maximum.accumulate(values)))


def _stacked(sample: CalibrationSample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All conditions side by side: (V, M) view ages, (M,) true ages, (M,) weights."""
    views = np.concatenate(sample.conditions(), axis=1)
    n = len(sample.true_ages)
    true = np.tile(sample.true_ages, len(sample.conditions()))
    weights = np.concatenate([np.full(n, w) for w in sample.condition_weights()])
    return views, true, weights


def fit_calibration(sample: CalibrationSample, calibrate: bool = True) -> tuple[AgeMap, AgeErrorModel]:
    """The map (identity when not `calibrate`) and the interval model for its output, both on `sample`."""
    views, true, weights = _stacked(sample)
    age_map = fit_age_map(views.mean(axis=0), true, weights) if calibrate else IDENTITY_MAP
    age, spread = readout(views, age_map)
    return age_map, fit_error_model(age, spread, true, weights)


@dataclass(frozen=True)
class Scores:
    """One condition scored once (one seed's out-of-fold estimates)."""

    errors: AgeErrors
    population: PopulationErrors
    coverage: Coverage


def score(true_ages: np.ndarray, age: np.ndarray, low: np.ndarray, high: np.ndarray) -> Scores:
    return Scores(age_errors(true_ages, age), population_errors(true_ages, age), interval_coverage(true_ages, low, high))


@dataclass(frozen=True)
class CrossValidation:
    folds: int
    seeds: int
    clean: list[Scores]  # one per seed
    camera: list[Scores]  # one per seed and camera rendering


def _out_of_fold(sample: CalibrationSample, fold: np.ndarray, calibrate: bool, level: float) -> np.ndarray:
    """(3, C, N) age, low, high per condition C, each chip estimated by a fit without its fold."""
    conditions = sample.conditions()
    out = np.full((3, len(conditions), len(sample.true_ages)), np.nan)
    for f in np.unique(fold):
        test = fold == f
        age_map, error = fit_calibration(sample.subset(~test), calibrate)
        for c, views in enumerate(conditions):
            age, spread = readout(views[:, test], age_map)
            half = error.half_width(age, spread, level)
            out[:, c, test] = age, np.maximum(age - half, 0.0), age + half
    return out


def cross_validate(
    sample: CalibrationSample, folds: int = 5, seeds: int = 5, calibrate: bool = True, level: float = 0.8
) -> CrossValidation:
    """Stratified (by decade) `folds`-fold cross-validation, repeated with `seeds` shuffles: the map and
    the interval model are refitted on the other folds for every held-out fold."""
    if folds < 2:
        raise ValueError(f"cross-validation needs 2 or more folds, got {folds}")
    clean, camera = [], []
    for seed in range(seeds):
        est = _out_of_fold(sample, decade_folds(sample.true_ages, folds, seed), calibrate, level)
        scores = [score(sample.true_ages, *est[:, c]) for c in range(est.shape[1])]
        clean.append(scores[0])
        camera += scores[1:]
    return CrossValidation(folds, seeds, clean, camera)
