"""Config section: face quality gate, age model and age bands."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from storelens.agebands import band_edges
from storelens.config.base import StrictModel


class QualityGateConfig(StrictModel):
    min_face_px: int = Field(
        40, ge=8, description="Smallest face (shorter box side, pixels) that gets an age."
    )
    min_quality: float = Field(0.5, ge=0, le=1, description="Faces below this quality score get no age.")
    good_face_px: int = Field(
        80, ge=8, description="Shorter box side (pixels) at and above which face size scores 1.0."
    )
    good_sharpness: float = Field(
        300.0,
        gt=0,
        description="Variance of the Laplacian on the 64x64 grey face crop at and above which sharpness scores 1.0 "
        "(sharp real faces measure 400-1000; a 5 px blur on a 90 px face about 16).",
    )
    max_yaw_deg: float = Field(
        60.0, gt=0, le=90, description="Head yaw (from the 5 landmarks) at which the pose score reaches 0."
    )
    max_roll_deg: float = Field(
        45.0, gt=0, le=90, description="In-plane head roll at which the pose score reaches 0."
    )
    min_brightness: float = Field(
        0.12, ge=0, le=1, description="Mean face luminance (0..1) below which the brightness score falls off."
    )
    max_brightness: float = Field(
        0.9, ge=0, le=1, description="Mean face luminance (0..1) above which the brightness score falls off."
    )

    @model_validator(mode="after")
    def _ordered(self) -> QualityGateConfig:
        if self.min_brightness >= self.max_brightness:
            raise ValueError("min_brightness must be below max_brightness")
        return self


class FaceApiCropConfig(StrictModel):
    """How a face box becomes face-api.js AgeGenderNet's 112x112 input (edge.age.model: faceapi_age).

    Defaults chosen by measurement on 1,350 UTKFace chips, 150 per decade (`storelens bench age`)."""

    square: Literal["zero_pad", "context", "stretch"] = Field(
        "zero_pad",
        description="Make the box square by padding with black (face-api.js's own preparation), by widening "
        "it with image pixels ('context'), or stretch it to 112x112 ('stretch').",
    )
    margins: list[float] = Field(
        default_factory=lambda: [0.0],
        min_length=1,
        max_length=4,
        description="One view per margin (fraction of the box added on every side), averaged. Extra margin "
        "made the error worse on the measured faces, so the box is used as YuNet gives it.",
    )
    align: bool = Field(
        True,
        description="Rotate each face so the eyes are level (from the landmarks): faces tilted 30 degrees "
        "measured 5.9 years mean error instead of 9.2; upright faces are unchanged.",
    )
    flip: bool = Field(
        True,
        description="Also average the mirror image. Cross-validated on UTKFace after calibration: 0.12-0.15 years "
        "lower decade-balanced error (5.26 instead of 5.38 on the chips, 5.84 instead of 5.99 on camera-like "
        "views) for twice the model time per face (~6.6 instead of ~3.9 CPU ms, provisional). On video the face "
        "stage still costs less than age-v1's: edge.age.max_faces_per_visitor stops estimating a visitor's age "
        "once their vote holds that many faces. Turn off on a box short of CPU.",
    )

    @field_validator("margins")
    @classmethod
    def _valid_margins(cls, value: list[float]) -> list[float]:
        if any(not -0.25 <= v <= 1.0 for v in value):
            raise ValueError("each crop margin must be between -0.25 and 1.0")
        return value


class AgeConfig(StrictModel):
    enabled: bool = Field(True, description="Estimate age for faces that pass the quality gate.")
    model: Literal["faceapi_age", "age_v1"] = Field(
        "faceapi_age",
        description="Age model from the manifest: 'faceapi_age' (face-api.js AgeGenderNet, MIT weights, built by "
        "`storelens models pull`; the default) or 'age_v1' (CC0, needs the extra: pip install 'storelens[age-v1]').",
    )
    bands: str | list[int] = Field(
        "fine",
        description="Age banding: 'fine', 'coarse', or a list of band lower bounds such as [0, 18, 35, 55].",
    )
    max_faces_per_visitor: int = Field(
        8,
        ge=0,
        le=1000,
        description="On video, estimate age only for faces of decided visitors whose vote holds fewer than this "
        "many faces (0 = every face). A visitor's voted age barely moves after a few good faces (simulated "
        "visitors: 6.46 y mean error with 1 face, 6.25 with 4 or 8), and faces of people not yet decided are "
        "never voted, so this saves most age-model runs without changing the result.",
    )
    interval_level: float = Field(
        0.8,
        ge=0.5,
        le=0.95,
        description="Each face and each visitor gets an age interval [age_low, age_high] meant to hold the true "
        "age this often; faceapi_age's comes with its calibration table (edge.age.calibration; coverage per decade "
        "in `storelens bench age --cv 5`), age_v1's from its own output distribution.",
    )
    calibration: Literal["cal1", "none"] = Field(
        "cal1",
        description="faceapi_age only: the calibration table that maps the network's age to the age it "
        "means and sets the interval. 'cal1' (default) undoes the network's pull towards middle age, fitted on "
        "UTKFace chips and camera-like views of them (edge_agent/attributes/faceapi_age_cal1.json says how); "
        "cross-validated it lowered the decade-balanced error from 6.52 to 5.99 years on camera-like views and "
        "from 5.48 to 5.38 on the chips (it costs 0.4 years for ages 18-75 on the chips, nothing on camera-like views). 'none' reports the network's own age. model_versions names the table "
        "(faceapi_age:<sha>+cal1).",
    )
    crop: FaceApiCropConfig = Field(
        default_factory=FaceApiCropConfig, description="faceapi_age only: how the face box is cut for the model."
    )
    flip_average: bool = Field(
        False,
        description="age_v1 only: also average the mirrored chips (test-time flip); off by default: it did not "
        "lower MAE on UTKFace.",
    )
    chip_paddings: list[float] = Field(
        default_factory=lambda: [0.15, 0.2, 0.25],
        min_length=1,
        max_length=5,
        description="age_v1 only: face-chip paddings to average the age distribution over (0.2 is the trained "
        "one); the small zoom jitter lowered MAE on UTKFace.",
    )
    confidence_window_years: float = Field(
        5.0,
        gt=0,
        le=40,
        description="age_confidence is the probability that the true age lies within this many years of the "
        "estimate (faceapi_age: from its calibrated error model; age_v1: the model's own probability mass).",
    )

    @field_validator("chip_paddings")
    @classmethod
    def _valid_paddings(cls, value: list[float]) -> list[float]:
        if any(not 0.0 <= v <= 1.0 for v in value):
            raise ValueError("each chip padding must be between 0 and 1")
        return value

    @field_validator("bands")
    @classmethod
    def _valid_bands(cls, value: str | list[int]) -> str | list[int]:
        band_edges(value)  # raises ValueError with the reason
        return value
