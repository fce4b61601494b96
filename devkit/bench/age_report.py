"""The `storelens bench age` report: age models side by side on an age-labelled face set."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from devkit.bench.age import (
    LabelledSet,
    ModelReport,
    decade_report,
    load_labelled_set,
    shared_error_fraction,
    simulate_views,
    stated_face_coverage,
    visitor_reports,
)
from edge_agent.attributes.age_calibration import DEFAULT_CALIBRATION
from edge_agent.attributes.age_eval import DECADES
from edge_agent.attributes.age_stage import build_age_stage
from edge_agent.models import resolve_model
from edge_agent.tracking.faces import SHARED_ERROR_FRACTION
from storelens.errors import ModelError, UnavailableError

if TYPE_CHECKING:
    from storelens.config import StorelensConfig

DECADE_NAMES = [f"{10 * d}-{10 * d + 9}" for d in range(DECADES)]
# Crop variants `--crops` adds for faceapi_age (edge.age.crop): what the default was chosen against.
CROP_VARIANTS = {
    "faceapi_age, + mirror (crop.flip true)": {"flip": True},
    "faceapi_age, no eye levelling": {"align": False},
    "faceapi_age, context square": {"square": "context"},
    "faceapi_age, margin 0.15": {"margins": [0.15]},
}


@dataclass(frozen=True)
class AgeBenchOptions:
    set_dir: Path
    models: Sequence[str]
    per_decade: int | None = None
    crops: bool = False
    visitors: int = 0  # views per simulated visitor; 0 = no visitor simulation
    repeat: int = 10
    cv: int = 0  # folds for the cross-validated faceapi_age calibration; 0 = none
    cv_seeds: int = 5
    camera_views: int = 2  # camera-like renderings per chip for --cv and --fit-calibration
    fit_calibration: Path | None = None  # write a calibration table fitted on the set here
    calibration_name: str = DEFAULT_CALIBRATION


def _stage_configs(cfg: StorelensConfig, opts: AgeBenchOptions) -> Iterator[tuple[str, StorelensConfig]]:
    for model in opts.models:
        age = cfg.edge.age.model_copy(update={"model": model})
        yield model, _with_age(cfg, age)
        if model == "faceapi_age":
            other = "none" if age.calibration != "none" else DEFAULT_CALIBRATION
            label = "uncalibrated" if other == "none" else f"calibration {other}"
            yield f"faceapi_age, {label}", _with_age(cfg, age.model_copy(update={"calibration": other}))
        if model == "faceapi_age" and opts.crops:
            for name, crop in CROP_VARIANTS.items():
                yield name, _with_age(cfg, age.model_copy(update={"crop": age.crop.model_copy(update=crop)}))


def _with_age(cfg: StorelensConfig, age) -> StorelensConfig:
    return cfg.model_copy(update={"edge": cfg.edge.model_copy(update={"age": age})})


def _header(data: LabelledSet, set_dir: Path) -> Iterator[str]:
    counts = np.bincount([c.decade for c in data.chips], minlength=DECADES)
    missing = sum(f.box is None for f in data.faces)
    yield (f"age on {set_dir}: {len(data.chips)} faces ({', '.join(map(str, counts))} per decade); true age "
           f"from the file name; YuNet box + landmarks per image ({missing} without a face, counted as missing)")
    yield ("UTKFace was among faceapi_age's training sets and its calibration table was fitted on utk_decades: "
           "figures on utk_decades are in-sample and optimistic; --cv K gives cross-validated ones.")


def _error_lines(rows: list[tuple[str, ModelReport]]) -> Iterator[str]:
    yield "mean absolute error (years) per decade of true age:"
    yield (f"  {'model':<40} " + " ".join(f"{d:>5}" for d in DECADE_NAMES)
           + f"  {'balanced':>8} {'18-75':>6} {'ms/face':>8} {'cpu ms':>6} {'views':>5} {'missing':>7}")
    for name, r in rows:
        e = r.errors
        yield (f"  {name:<40} " + " ".join(f"{v:5.1f}" for v in e.per_decade)
               + f"  {e.balanced:8.2f} {e.adult:6.2f} {r.ms_per_face:8.2f} {r.cpu_ms_per_face:6.2f} {r.views:>5} {e.missing:>7}")
    yield ("  ms/face: crops + model for 8 faces in one frame, median wall time; cpu ms: the same in CPU time "
           "(one ONNX thread), steadier when the machine is shared. Both provisional.")


def _coverage_lines(rows: list[tuple[str, ModelReport]], calibration: str) -> Iterator[str]:
    yield "interval [age_low, age_high]: share of faces whose true age lies inside (mean width in years):"
    yield f"  {'model':<40} {'level':>5} " + " ".join(f"{d:>5}" for d in DECADE_NAMES) + f"  {'all':>5} {'width':>5}"
    for name, r in rows:
        c = r.coverage
        yield (f"  {name:<40} {r.level:5.2f} " + " ".join(f"{v:5.2f}" for v in c.per_decade)
               + f"  {c.overall:5.2f} {np.mean(c.mean_width):5.1f}")
    yield (f"  faceapi_age: from its calibration table ({calibration}; 'none': the uncalibrated error model), fitted "
           "on these faces; age_v1: from its own output distribution.")


def _visitor_lines(cfg: StorelensConfig, data: LabelledSet, views: int) -> Iterator[str]:
    from edge_agent.faces import FacePipeline

    pipeline = FacePipeline.from_config(cfg)
    sim = simulate_views(pipeline, data, views)
    shared = shared_error_fraction(sim)
    face = stated_face_coverage(sim)
    yield (f"simulated visitors ({cfg.edge.age.model}): each face seen {views} times through detect -> quality "
           "gate -> age, jittered in size (64-200 px), roll, light, blur and JPEG; the vote over k good faces.")
    yield (f"  shared error fraction measured {shared:.2f} (the vote assumes {SHARED_ERROR_FRACTION:.2f}); "
           f"stated per-face interval on these views holds the truth for {face.overall:.2f} "
           f"(per decade {' '.join(f'{v:.2f}' for v in face.per_decade)})")
    yield f"  {'k faces':>7} {'visitors':>8} " + " ".join(f"{d:>5}" for d in DECADE_NAMES) + f"  {'MAE':>5} {'cover':>5} {'width':>5}"
    sizes = sorted({1, 2, *[k for k in (4, 8, 16) if k <= views], views})
    for r in visitor_reports(sim, sizes, SHARED_ERROR_FRACTION):
        yield (f"  {r.faces:>7} {r.visitors:>8} " + " ".join(f"{v:5.2f}" for v in r.coverage.per_decade)
               + f"  {r.errors.balanced:5.2f} {r.coverage.overall:5.2f} {np.mean(r.coverage.mean_width):5.1f}")
    yield "  per decade: share of visitors whose true age lies inside their interval; MAE decade-balanced."


def bench_age(cfg: StorelensConfig, opts: AgeBenchOptions) -> Iterator[str]:
    yunet = resolve_model("yunet", cfg.models)
    data = load_labelled_set(opts.set_dir, yunet, opts.per_decade)
    yield from _header(data, opts.set_dir)
    rows, faceapi = [], None
    for name, stage_cfg in _stage_configs(cfg, opts):
        try:
            stage = build_age_stage(stage_cfg.edge.age, stage_cfg.models)
        except (ModelError, UnavailableError) as exc:
            yield f"  {name}: skipped: {exc}"
            continue
        faceapi = stage.backend if name == "faceapi_age" else faceapi
        rows.append((name, decade_report(stage, data, opts.repeat)))
    yield from _error_lines(rows)
    yield from _coverage_lines(rows, cfg.edge.age.calibration)
    if (opts.cv or opts.fit_calibration) and faceapi is not None:
        yield from _calibration_lines(faceapi, data, yunet, opts, cfg.edge.age.interval_level)
    if opts.visitors:
        yield from _visitor_lines(cfg, data, opts.visitors)


def _calibration_lines(faceapi, data: LabelledSet, yunet: Path, opts: AgeBenchOptions, level: float) -> Iterator[str]:
    from devkit.bench.age import calibration_sample
    from devkit.bench.age_cv import calibration_file, cv_lines, cv_rows, write_calibration
    from edge_agent.models import get_spec

    sample = calibration_sample(faceapi, data, yunet, opts.camera_views)
    cv = None
    if opts.cv:
        rows = cv_rows(sample, opts.cv, opts.cv_seeds, level)
        cv = (opts.cv, opts.cv_seeds, rows)
        yield from cv_lines(rows, opts.cv, opts.cv_seeds, opts.camera_views, level)
    if opts.fit_calibration:
        doc = calibration_file(sample, opts.calibration_name, get_spec("faceapi_age").sha256, opts.set_dir,
                               opts.camera_views, cv)
        write_calibration(doc, opts.fit_calibration)
        yield f"calibration {opts.calibration_name} fitted on {len(sample.true_ages)} chips written to {opts.fit_calibration}"
