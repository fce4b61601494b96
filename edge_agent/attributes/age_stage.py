"""The configured age backend (edge.age.model) behind one stage, built by one factory.

Both backends give the same Detections columns per face: `age`, `age_confidence`, `age_low` and
`age_high` (the interval at edge.age.interval_level) and `band`; NaN (band '') where the face was
not estimated. faceapi_age's age is the network's after its calibration table (edge.age.calibration). age_v1 adds `age_probs` (its 81-way distribution), faceapi_age `female_prob`.
Downstream (the per-visitor vote, the CLI, DeepStream) reads only the shared columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from storelens.agebands import band_edges, band_names

if TYPE_CHECKING:
    from edge_agent.types import Detections
    from storelens.config.attributes import AgeConfig
    from storelens.config.models import ModelsConfig

AGE_COLUMNS = ("age", "age_confidence", "age_low", "age_high")


class AgeBackend(Protocol):
    def update(self, frame_bgr: np.ndarray, faces: Detections, eligible: np.ndarray | None = None) -> Detections: ...


class AgeStage:
    """`update(frame, faces, eligible)`: the shared age columns and `band` for the eligible faces."""

    def __init__(self, backend: AgeBackend, cfg: AgeConfig, views: int) -> None:
        self.backend = backend
        self.cfg = cfg
        self.model = cfg.model
        self.views = views  # test-time views per face (crops, mirror): what one face costs in model runs
        self.edges = band_edges(cfg.bands)

    def update(self, frame_bgr: np.ndarray, faces: Detections, eligible: np.ndarray | None = None) -> Detections:
        mask = np.ones(len(faces), bool) if eligible is None else np.asarray(eligible, bool)
        if not self.cfg.enabled:
            mask = np.zeros(len(faces), bool)
        out = self.backend.update(frame_bgr, faces, mask)
        return out.with_data(band=band_names(out.data["age"], self.edges))


def _faceapi(cfg: AgeConfig, models_cfg: ModelsConfig) -> AgeStage:
    from edge_agent.attributes.age_faceapi import FaceApiAgeEstimator
    from edge_agent.attributes.faceapi_crops import CropPolicy
    from edge_agent.models import create_session, resolve_model

    crop = cfg.crop
    policy = CropPolicy(square=crop.square, margins=tuple(crop.margins), align=crop.align, flip=crop.flip)
    estimator = FaceApiAgeEstimator(
        resolve_model(cfg.model, models_cfg),
        policy,
        calibration=cfg.calibration,
        session_factory=lambda path: create_session(path, models_cfg, name=cfg.model),
        level=cfg.interval_level,
        confidence_window_years=cfg.confidence_window_years,
    )
    _check_table_fits_model(estimator.calibration)
    return AgeStage(estimator, cfg, policy.views)


def _check_table_fits_model(calibration: str) -> None:
    """A calibration table is only right for the network build it was fitted on."""
    from edge_agent.attributes.age_calibration import load_calibration
    from edge_agent.models import get_spec
    from storelens.errors import ModelError

    if calibration == "none":
        return
    fitted_on, built = load_calibration(calibration)[0].model_sha256, get_spec("faceapi_age").sha256
    if not built.startswith(fitted_on[:8]):
        raise ModelError(f"age calibration {calibration} was fitted on faceapi_age {fitted_on[:8]}, the manifest "
                         f"builds {built[:8]}; refit it (storelens bench age --fit-calibration) or set "
                         "edge.age.calibration: none")


def _age_v1(cfg: AgeConfig, models_cfg: ModelsConfig) -> AgeStage:
    from edge_agent.attributes.age import AgeEstimator

    estimator = AgeEstimator(cfg, models_cfg)
    return AgeStage(estimator, cfg, estimator.views())


_BACKENDS = {"faceapi_age": _faceapi, "age_v1": _age_v1}


def age_version_suffix(cfg: AgeConfig) -> str:
    """What model_versions appends to the age model's version: '+<table>' when a calibration table
    changes what the network says (faceapi_age:98a482d6+cal1), else ''."""
    if cfg.model != "faceapi_age" or cfg.calibration == "none":
        return ""
    return f"+{cfg.calibration}"


def build_age_stage(cfg: AgeConfig, models_cfg: ModelsConfig) -> AgeStage:
    """The age stage for edge.age.model; ModelError / UnavailableError (one line) when it cannot load."""
    return _BACKENDS[cfg.model](cfg, models_cfg)
