"""Age and gender with face-api.js AgeGenderNet (converted to ONNX by faceapi_convert.py), batched.

The network regresses one number, so it has no distribution to read a confidence from. What it says
goes through an `AgeReadout`: the calibration's monotone map (age_calibration.AgeMap, undoing the
pull towards middle age) and then an error model (AgeErrorModel) that gives the interval and
`age_confidence`: a base error that grows with the estimated age up to a knee, widened by how much the
test-time views (mirror, margins) disagree. Both are fitted on utk_decades (age_eval.py) and shipped
as a versioned table (edge.age.calibration, default cal1); `calibration: none` keeps the network's own
age with the error models below.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.attributes.age_calibration import (
    DEFAULT_CALIBRATION,
    IDENTITY_MAP,
    AgeErrorModel,
    AgeMap,
    calibration_for,
)
from edge_agent.attributes.faceapi_convert import AGE_OUTPUT, GENDER_OUTPUT, INPUT_NAME
from edge_agent.attributes.faceapi_crops import CropPolicy, face_views

if TYPE_CHECKING:
    from edge_agent.types import Detections

__all__ = ["AgeErrorModel", "AgeReadout", "FaceAges", "FaceApiAgeEstimator", "readout_for", "summarise_views"]

log = logging.getLogger(__name__)

SessionFactory = Callable[[Path], Any]  # model path -> an onnxruntime.InferenceSession-like object


# The YuNet box zero-padded to a square (face-api.js's own preparation), eyes levelled. Measured on
# utk_decades (age_eval.py): margins only added black on those tight chips and made it worse; levelling
# the eyes changed nothing on upright chips but kept faces tilted 30 degrees at 5.9 years instead of 9.2.
# The product ships the single view (edge.age.crop.flip: false). The mirror view (MIRROR_POLICY) lowers
# the decade-balanced error by 0.12-0.15 years after calibration (cross-validated: 5.26 instead of 5.38 on
# the chips, 5.84 instead of 5.99 on camera-like views) for twice the model time, which would make the face
# stage dearer than age-v1's three chips (CPU ms per face, 8 faces a frame, `storelens bench age --crops`:
# 6.6 with the mirror, 5.6 age-v1, 3.9 single view; provisional, shared machine).
SINGLE_VIEW_POLICY = CropPolicy(square="zero_pad", margins=(0.0,), align=True, flip=False)
MIRROR_POLICY = CropPolicy(square="zero_pad", margins=(0.0,), align=True, flip=True)
DEFAULT_POLICY = SINGLE_VIEW_POLICY

_CDF_P = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0)
# Uncalibrated (edge.age.calibration: none): age_eval.fit_error_model on all 1,349 utk_decades chips
# YuNet detects, one model per policy (the spread term only exists with several views). Out of fold
# their 80 % intervals held the true age for 79.5-80.1 % of the chips, 67-91 % per decade: lowest for
# 30-39 and 80-89, where the regression pulls estimates towards the middle ages; on camera-like views
# (bench age --cv) they hold less often for people over 60, whom the network then reads younger still.
UTK_ERROR_MODELS = {
    MIRROR_POLICY: AgeErrorModel(
        base=0.5,
        slope=0.19,
        knee=30.0,
        spread_gain=1.0,
        cdf_x=(0.0, 0.131, 0.271, 0.426, 0.602, 0.779, 1.005, 1.273, 1.595, 1.803, 2.077, 2.551, 3.344, 8.888),
        cdf_p=_CDF_P,
    ),
    SINGLE_VIEW_POLICY: AgeErrorModel(
        base=0.5,
        slope=0.21,
        knee=30.0,
        spread_gain=0.0,
        cdf_x=(0.0, 0.138, 0.265, 0.408, 0.566, 0.767, 1.0, 1.273, 1.635, 1.809, 2.057, 2.550, 3.399, 7.838),
        cdf_p=_CDF_P,
    ),
}


def uncalibrated_error_model(policy: CropPolicy) -> AgeErrorModel:
    """The error model for the network's own age under `policy`; for policies without one, the nearest,
    with a warning: their intervals are not calibrated (fit one with age_eval.fit_error_model)."""
    fitted = UTK_ERROR_MODELS.get(policy)
    if fitted is None:
        nearest = MIRROR_POLICY if policy.views > 1 else SINGLE_VIEW_POLICY
        log.warning("age intervals for crop policy %s are not calibrated; using those of %s", policy, nearest)
        fitted = UTK_ERROR_MODELS[nearest]
    return fitted


@dataclass(frozen=True)
class AgeReadout:
    """How the views' network ages become the reported age, interval and confidence."""

    age_map: AgeMap
    error_model: AgeErrorModel
    calibration: str  # the table's name, or "none"


def readout_for(policy: CropPolicy, calibration: str = DEFAULT_CALIBRATION) -> AgeReadout:
    """The readout of calibration table `calibration` ("none": the network's own age) for `policy`."""
    if calibration == "none":
        return AgeReadout(IDENTITY_MAP, uncalibrated_error_model(policy), "none")
    entry = calibration_for(calibration, policy)
    return AgeReadout(entry.age_map, entry.error_model, calibration)


@dataclass(frozen=True)
class FaceAges:
    """Per face, in input order."""

    age: np.ndarray  # (N,) years: the calibrated mean over views
    age_low: np.ndarray  # (N,) interval at `level`, low end clipped at 0
    age_high: np.ndarray  # (N,)
    age_confidence: np.ndarray  # (N,) P(|true - age| <= window years) under the error model
    age_spread: np.ndarray  # (N,) std of the views' calibrated ages
    gender: np.ndarray  # (N, 2) [male, female] probabilities, mean over views
    level: float  # nominal coverage of [age_low, age_high]
    age_raw: np.ndarray  # (N,) the network's own age, mean over views, before the calibration map


def summarise_views(
    view_ages: np.ndarray, view_gender: np.ndarray, readout: AgeReadout, level: float, window: float
) -> FaceAges:
    """(V, N) view ages and (V, N, 2) gender -> FaceAges: the map applies to the views' mean (what it
    was fitted on); the spread is measured between the mapped views, in calibrated years."""
    raw = view_ages.mean(axis=0)
    age = readout.age_map(raw)
    spread = readout.age_map(view_ages).std(axis=0)
    half = readout.error_model.half_width(age, spread, level)
    return FaceAges(
        age=age,
        age_low=np.maximum(age - half, 0.0),
        age_high=age + half,
        age_confidence=readout.error_model.within(age, spread, window),
        age_spread=spread,
        gender=view_gender.mean(axis=0),
        level=level,
        age_raw=raw,
    )


def ort_session(intra_op_threads: int = 1) -> SessionFactory:
    """A CPU ONNX Runtime session factory; the app passes its own to choose providers."""

    def create(path: Path) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    return create


class FaceApiAgeEstimator:
    """Age, gender and an honest age interval per face box; all faces and views in one session.run."""

    def __init__(
        self,
        model_path: Path,
        policy: CropPolicy = DEFAULT_POLICY,
        error_model: AgeErrorModel | None = None,
        *,
        calibration: str = DEFAULT_CALIBRATION,
        session_factory: SessionFactory | None = None,
        level: float = 0.8,
        confidence_window_years: float = 5.0,
    ) -> None:
        """`calibration`: a packaged table name (age_calibration.CALIBRATIONS) or "none"; `error_model`
        replaces that table's interval model (for measuring one, age_eval.py)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"age interval level must be between 0 and 1, got {level}")
        if confidence_window_years <= 0:
            raise ValueError(f"confidence_window_years must be positive, got {confidence_window_years}")
        self.level = level
        self.window = confidence_window_years
        self._error_override = error_model
        self._set_policy(policy, calibration)
        self._session = (session_factory or ort_session())(Path(model_path))

    def _set_policy(self, policy: CropPolicy, calibration: str) -> None:
        self.policy = policy
        readout = readout_for(policy, calibration)
        if self._error_override is not None:
            readout = AgeReadout(readout.age_map, self._error_override, readout.calibration)
        self.readout = readout

    @property
    def calibration(self) -> str:
        return self.readout.calibration

    @property
    def error_model(self) -> AgeErrorModel:
        return self.readout.error_model

    def with_policy(self, policy: CropPolicy, calibration: str | None = None) -> FaceApiAgeEstimator:
        """The same estimator, sharing its session, with another crop policy (and calibration)."""
        other = copy.copy(self)
        other._set_policy(policy, self.calibration if calibration is None else calibration)
        return other

    def run(self, inputs_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M,) ages and (M, 2) gender probabilities for (M, 112, 112, 3) float RGB 0..255 inputs."""
        if len(inputs_rgb) == 0:
            return np.zeros(0, np.float32), np.zeros((0, 2), np.float32)
        feed = {INPUT_NAME: np.ascontiguousarray(inputs_rgb.transpose(0, 3, 1, 2), dtype=np.float32)}
        age, gender = self._session.run([AGE_OUTPUT, GENDER_OUTPUT], feed)
        return age, gender

    def view_predictions(
        self, frame_bgr: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(V, N) ages and (V, N, 2) gender probabilities, one row per test-time view."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        lms = None if landmarks is None else np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
        # Cut from BGR and swap channels on the small views: cheaper than converting the whole frame.
        views = face_views(frame_bgr, boxes, lms, self.policy)[..., ::-1]
        v, n = views.shape[:2]
        ages, gender = self.run(views.reshape(v * n, *views.shape[2:]))
        return ages.reshape(v, n), gender.reshape(v, n, 2)

    def summarise(self, view_ages: np.ndarray, view_gender: np.ndarray) -> FaceAges:
        """Average the views, calibrate, and attach the error model's interval and confidence."""
        return summarise_views(view_ages, view_gender, self.readout, self.level, self.window)

    def estimate(
        self, frame_bgr: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray | None = None
    ) -> FaceAges:
        """Per face box (N, 4 xyxy frame pixels): age, interval, age_confidence, spread, gender."""
        return self.summarise(*self.view_predictions(frame_bgr, boxes, landmarks))

    def update(
        self, frame_bgr: np.ndarray, faces: Detections, eligible: np.ndarray | None = None
    ) -> Detections:
        """New Detections with age, age_confidence, age_low, age_high, female_prob; NaN where not eligible."""
        n = len(faces)
        mask = np.ones(n, bool) if eligible is None else np.asarray(eligible, bool)
        keys = ("age", "age_confidence", "age_low", "age_high", "female_prob")
        cols = {k: np.full(n, np.nan, np.float32) for k in keys}
        if mask.any():
            lms = None if faces.landmarks is None else faces.landmarks[mask]
            est = self.estimate(frame_bgr, faces.xyxy[mask], lms)
            values = (est.age, est.age_confidence, est.age_low, est.age_high, est.gender[:, 1])
            for key, value in zip(keys, values, strict=True):
                cols[key][mask] = value
        return faces.with_data(**cols)
