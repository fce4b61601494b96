"""`storelens bench age --cv K` and `--fit-calibration FILE`: faceapi_age's calibration, cross-validated
and refitted (edge_agent/attributes/age_calfit.py), on the chips and on camera-like views of them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.attributes.age_calfit import (
    CLEAN_SHARE,
    KNOTS,
    MIN_SLOPE,
    SMOOTHING,
    CalibrationSample,
    CrossValidation,
    Scores,
    cross_validate,
    fit_calibration,
)
from edge_agent.attributes.age_calibration import calibration_document
from edge_agent.attributes.age_eval import DECADES, FAIRFACE_BINS
from edge_agent.attributes.age_faceapi import MIRROR_POLICY, SINGLE_VIEW_POLICY

DECADE_NAMES = [f"{10 * d}-{10 * d + 9}" for d in range(DECADES)]
POLICIES = (("single view", SINGLE_VIEW_POLICY), ("+ mirror", MIRROR_POLICY))
LIMITS = ("UTKFace was among the network's training sets and the camera renderings are synthetic, so the "
          "figures are optimistic for the field; utk_decades stops at 89, so past a network age of 90 the map "
          "only shifts (slope 1). A refit on other data is a new table name (cal2), not an edit of this one.")
SCALARS = {  # column -> how to read it from Scores
    "balanced": lambda s: s.errors.balanced,
    "18-75": lambda s: s.errors.adult,
    "ff-mix": lambda s: s.population.fairface_mix_mae,
    "dist-bal": lambda s: s.population.distance_balanced,
    "dist-mix": lambda s: s.population.distance_mix,
    "inside": lambda s: s.population.inside_mix,
    "cover": lambda s: s.coverage.overall,
}


@dataclass(frozen=True)
class CvRow:
    view: str
    condition: str  # "chip" or "camera"
    calibration: str  # "none" or "refit"
    scores: list[Scores]

    def mean_sd(self, column: str) -> tuple[float, float]:
        values = [SCALARS[column](s) for s in self.scores]
        return float(np.mean(values)), float(np.std(values))

    def per_decade(self) -> np.ndarray:
        return np.mean([s.errors.per_decade for s in self.scores], axis=0)

    def coverage_per_decade(self) -> np.ndarray:
        return np.mean([s.coverage.per_decade for s in self.scores], axis=0)

    def distance_per_bin(self) -> np.ndarray:
        return np.nanmean([s.population.distance_per_bin for s in self.scores], axis=0)


def cv_rows(sample: CalibrationSample, folds: int, seeds: int, level: float) -> list[CvRow]:
    rows = []
    for view, policy in POLICIES:
        part = sample.first_views(policy.views)
        for calibrate in (False, True):
            cv: CrossValidation = cross_validate(part, folds, seeds, calibrate, level)
            cal = "refit" if calibrate else "none"
            rows.append(CvRow(view, "chip", cal, cv.clean))
            if len(sample.camera):
                rows.append(CvRow(view, "camera", cal, cv.camera))
    return rows


def _name(row: CvRow) -> str:
    return f"{row.view}, {row.condition}, {row.calibration}"


def cv_lines(rows: Sequence[CvRow], folds: int, seeds: int, camera_views: int, level: float) -> Iterator[str]:
    yield (f"faceapi_age cross-validated: {folds}-fold stratified by decade, {seeds} seeds; the map and the interval "
           "model are refitted on the other folds for each held-out fold ('refit'; 'none' = the network's own age, "
           "intervals refitted the same way). mean over seeds (± sd; camera rows: over seeds x renderings).")
    yield (f"  chip = the chip itself (YuNet's box clipped by its edge); camera = {camera_views} camera-like "
           "renderings of each chip (on a canvas, 64-200 px, roll, light, blur, JPEG; devkit/bench/age.py).")
    yield (f"  ff-mix: MAE with the faces resampled to FairFace's age mix; dist-bal / dist-mix: distance (years) to "
           f"the FairFace age range, bins balanced / FairFace's mix; inside: share in range (mix); cover: {level:.0%} "
           "interval coverage.")
    yield f"  {'view, condition, calibration':<31} " + " ".join(f"{d:>5}" for d in DECADE_NAMES) + "  " + " ".join(
        f"{c:>10}" for c in SCALARS)
    for row in rows:
        cells = " ".join(f"{m:.2f}±{sd:.2f}".rjust(10) for m, sd in map(row.mean_sd, SCALARS))
        yield f"  {_name(row):<31} " + " ".join(f"{v:5.1f}" for v in row.per_decade()) + "  " + cells
    yield f"  {level:.0%} interval coverage per decade (out of fold):"
    for row in rows:
        yield f"  {_name(row):<31} " + " ".join(f"{v:5.2f}" for v in row.coverage_per_decade())
    bins = ["70+" if hi > 150 else f"{lo}-{hi}" for lo, hi in FAIRFACE_BINS]
    yield "  distance to the FairFace range per bin (years): " + " ".join(f"{b:>5}" for b in bins)
    for row in rows:
        yield f"  {_name(row):<31} " + " ".join(f"{v:5.2f}" for v in row.distance_per_bin())


def _cv_summary(rows: Sequence[CvRow]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in rows:
        entry = {c: round(row.mean_sd(c)[0], 3) for c in SCALARS}
        entry["per_decade"] = [round(float(v), 2) for v in row.per_decade()]
        entry["coverage_per_decade"] = [round(float(v), 3) for v in row.coverage_per_decade()]
        out[_name(row)] = entry
    return out


def calibration_file(
    sample: CalibrationSample, name: str, model_sha256: str, set_dir: Path, camera_views: int,
    cv: tuple[int, int, Sequence[CvRow]] | None,
) -> dict[str, Any]:
    """The calibration document fitted on the whole sample, one entry per policy in POLICIES."""
    entries = []
    for _, policy in POLICIES:
        age_map, error = fit_calibration(sample.first_views(policy.views))
        entries.append((policy, age_map, error))
    found = int(np.isfinite(sample.clean[0]).sum())
    fitted: dict[str, Any] = {
        "data": f"{set_dir.name}: {len(sample.true_ages)} age-labelled chips ({found} with a YuNet face), true age "
                "from the file name",
        "conditions": f"each chip as it is (weight {CLEAN_SHARE}) and as {camera_views} camera-like renderings "
                      "(devkit/bench/age.py jittered_view, seed 1; the rest of the weight shared between them)",
        "map": f"monotone piecewise-linear from the network's age (mean of the policy's views) to the true age; "
               f"knots at {', '.join(f'{k:.0f}' for k in KNOTS)} years, every slope >= {MIN_SLOPE}, beyond the "
               f"last knot slope 1; weighted mean |error| + {SMOOTHING} x total slope change, as a linear "
               "programme (scipy.optimize.linprog, HiGHS): edge_agent/attributes/age_calfit.py fit_age_map",
        "error_model": "age_eval.fit_error_model on the mapped ages with the same weights",
        "command": f"storelens bench age --set {set_dir} --models faceapi_age --camera-views {camera_views} "
                   f"--fit-calibration FILE --calibration-name {name}" + (f" --cv {cv[0]} --cv-seeds {cv[1]}" if cv else ""),
        "limits": LIMITS,
    }
    if cv:
        fitted["cross_validation"] = {"folds": cv[0], "seeds": cv[1], "rows": _cv_summary(cv[2])}
    return calibration_document(name, model_sha256, entries, fitted)


def _dump(value: Any, indent: int = 0) -> str:
    """JSON with objects one key a line and lists of numbers on one line: a table a reviewer can read."""
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {_dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[\n" + ",\n".join(pad + _dump(v, indent + 1) for v in value) + "\n" + " " * indent + "]"
    return json.dumps(value)


def write_calibration(document: dict[str, Any], path: Path) -> None:
    path.write_text(_dump(document) + "\n", encoding="utf-8")
