"""Calibration of face-api.js AgeGenderNet's age: a monotone output map and the interval model after it.

The network pulls estimates towards middle age, and more so on camera-like faces than on the tight
UTKFace chips it partly trained on (people over 60 read 5 years too young on the chips, 9 on the same
faces seen like a camera sees them). `AgeMap` undoes that: a monotone piecewise-linear map from the
network's age to the age that minimises the absolute error, fitted on utk_decades
(edge_agent.attributes.age_eval.fit_age_map; reproduce with `storelens bench age --fit-calibration`).
`AgeErrorModel` turns the calibrated age into an interval and a confidence.

Calibration tables are derived data, not models: small JSON files beside this module, one per name
(`faceapi_age_<name>.json`), each holding one map + error model per crop policy and a "fitted" block
that says on what and how it was fitted. The name goes into model_versions (`faceapi_age:<sha>+cal1`).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from importlib import resources
from typing import Any

import numpy as np

from edge_agent.attributes.faceapi_crops import CropPolicy
from storelens.errors import ModelError

log = logging.getLogger(__name__)

CALIBRATIONS = ("cal1",)  # the names edge.age.calibration accepts besides "none"
DEFAULT_CALIBRATION = "cal1"


@dataclass(frozen=True)
class AgeErrorModel:
    """Expected |age error| as a function of the estimate and the spread of the views.

    scale = sqrt((base + slope * min(age, knee))^2 + (spread_gain * spread)^2): the error grows with
    age through childhood and young adulthood and then levels off; |error| / scale follows the
    empirical distribution given by (cdf_x, cdf_p), fitted on utk_decades.
    """

    base: float
    slope: float
    knee: float  # estimated age (years) beyond which the error stops growing
    spread_gain: float
    cdf_x: tuple[float, ...]  # increasing normalised |error| values ...
    cdf_p: tuple[float, ...]  # ... and the fraction of faces at or below each

    def scale(self, ages: np.ndarray, spread: np.ndarray) -> np.ndarray:
        level = self.base + self.slope * np.clip(ages, 0.0, self.knee)
        return np.sqrt(level**2 + (self.spread_gain * spread) ** 2)

    def half_width(self, ages: np.ndarray, spread: np.ndarray, level: float) -> np.ndarray:
        """Years either side of the estimate that hold the true age with probability `level`."""
        return self.scale(ages, spread) * float(np.interp(level, self.cdf_p, self.cdf_x))

    def within(self, ages: np.ndarray, spread: np.ndarray, window: float) -> np.ndarray:
        """Probability that the true age is within +-window years: falls as the expected error grows."""
        return np.interp(window / self.scale(ages, spread), self.cdf_x, self.cdf_p)

    def widened(self, factor: float) -> AgeErrorModel:
        return replace(
            self, base=self.base * factor, slope=self.slope * factor, spread_gain=self.spread_gain * factor
        )


@dataclass(frozen=True)
class AgeMap:
    """Monotone piecewise-linear map from the network's age to the calibrated age (years).

    Linear between knots; beyond the outer knots it continues with `tail_slope` (1: the fit has no
    data there, so it changes nothing but the offset). Results are clipped at 0; NaN stays NaN.
    """

    knots: tuple[float, ...]  # network ages, strictly increasing
    values: tuple[float, ...]  # calibrated age at each knot, non-decreasing
    tail_slope: float = 1.0

    def __post_init__(self) -> None:
        k, v = np.asarray(self.knots, float), np.asarray(self.values, float)
        if len(k) < 2 or len(k) != len(v) or not (np.isfinite(k).all() and np.isfinite(v).all()):
            raise ValueError("an age map needs two or more finite knots, one value per knot")
        if np.any(np.diff(k) <= 0) or np.any(np.diff(v) < 0) or self.tail_slope < 0:
            raise ValueError("an age map must have increasing knots and non-decreasing values")

    def __call__(self, ages: np.ndarray) -> np.ndarray:
        a = np.asarray(ages, np.float64)
        out = np.interp(a, self.knots, self.values)
        out = np.where(a > self.knots[-1], self.values[-1] + self.tail_slope * (a - self.knots[-1]), out)
        out = np.where(a < self.knots[0], self.values[0] + self.tail_slope * (a - self.knots[0]), out)
        return np.maximum(out, 0.0)


IDENTITY_MAP = AgeMap((0.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True)
class FaceApiCalibration:
    """One crop policy's map and interval model from a named calibration table."""

    name: str
    model_sha256: str  # the faceapi_age ONNX build it was fitted on (edge_agent/models_manifest.yaml)
    policy: CropPolicy
    age_map: AgeMap
    error_model: AgeErrorModel


def _policy(raw: Mapping[str, Any]) -> CropPolicy:
    return CropPolicy(square=raw["square"], margins=tuple(raw["margins"]), align=raw["align"], flip=raw["flip"])


def _entry(name: str, sha: str, raw: Mapping[str, Any]) -> FaceApiCalibration:
    m, e = raw["map"], raw["error_model"]
    return FaceApiCalibration(
        name=name,
        model_sha256=sha,
        policy=_policy(raw["crop"]),
        age_map=AgeMap(tuple(m["knots"]), tuple(m["values"]), float(m.get("tail_slope", 1.0))),
        error_model=AgeErrorModel(
            float(e["base"]), float(e["slope"]), float(e["knee"]), float(e["spread_gain"]),
            tuple(e["cdf_x"]), tuple(e["cdf_p"]),
        ),
    )


def parse_calibration(doc: Mapping[str, Any], source: str) -> tuple[FaceApiCalibration, ...]:
    """The entries of a calibration document; ModelError naming `source` when it is malformed."""
    try:
        name, sha = str(doc["name"]), str(doc["model_sha256"])
        entries = tuple(_entry(name, sha, raw) for raw in doc["policies"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"age calibration {source} is malformed: {exc!r}") from None
    if not entries:
        raise ModelError(f"age calibration {source} holds no crop policy")
    return entries


@functools.cache
def load_calibration(name: str) -> tuple[FaceApiCalibration, ...]:
    """The packaged table `name` (read once per process: it is immutable package data)."""
    if name not in CALIBRATIONS:
        raise ModelError(f"unknown age calibration {name!r}; known: {', '.join(CALIBRATIONS)} or none")
    resource = resources.files(__package__) / f"faceapi_age_{name}.json"
    try:
        doc = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"age calibration {resource} is unreadable: {exc}") from None
    return parse_calibration(doc, str(resource))


def calibration_for(name: str, policy: CropPolicy) -> FaceApiCalibration:
    """The entry of table `name` fitted for `policy`; for other policies the entry with the same
    number of views, with a warning: its map and intervals were not fitted for that crop."""
    entries = load_calibration(name)
    for entry in entries:
        if entry.policy == policy:
            return entry
    nearest = min(entries, key=lambda e: (abs(e.policy.views - policy.views), e.policy.flip != policy.flip))
    log.warning("age calibration %s was not fitted for crop policy %s; using the one for %s",
                name, policy, nearest.policy)
    return nearest


def calibration_document(
    name: str, model_sha256: str, entries: list[tuple[CropPolicy, AgeMap, AgeErrorModel]], fitted: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON document `load_calibration` reads (written by `storelens bench age --fit-calibration`)."""
    def rounded(values: tuple[float, ...], digits: int) -> list[float]:
        return [round(float(v), digits) for v in values]

    policies = []
    for policy, age_map, error in entries:
        crop = {"square": policy.square, "margins": list(policy.margins), "align": policy.align, "flip": policy.flip}
        err = {k: (rounded(v, 4) if isinstance(v, tuple) else round(float(v), 4)) for k, v in asdict(error).items()}
        policies.append({
            "crop": crop,
            "map": {"knots": rounded(age_map.knots, 2), "values": rounded(age_map.values, 2),
                    "tail_slope": age_map.tail_slope},
            "error_model": err,
        })
    return {"name": name, "model": "faceapi_age", "model_sha256": model_sha256, "fitted": dict(fitted),
            "policies": policies}
