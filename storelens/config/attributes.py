"""Config section: face quality gate, age model and age bands."""

from __future__ import annotations

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


class AgeConfig(StrictModel):
    enabled: bool = Field(True, description="Estimate age for faces that pass the quality gate.")
    model: str = Field("age_v1", description="Model name from the manifest.")
    bands: str | list[int] = Field(
        "fine",
        description="Age banding: 'fine', 'coarse', or a list of band lower bounds such as [0, 18, 35, 55].",
    )
    flip_average: bool = Field(
        False,
        description="Also average the mirrored chips (test-time flip); off by default: it did not lower MAE on UTKFace.",
    )
    chip_paddings: list[float] = Field(
        default_factory=lambda: [0.15, 0.2, 0.25],
        min_length=1,
        max_length=5,
        description="Face-chip paddings to average the age distribution over (0.2 is the trained one); "
        "the small zoom jitter lowered MAE on UTKFace.",
    )
    confidence_window_years: float = Field(
        5.0,
        gt=0,
        le=40,
        description="age_confidence is the model's probability mass within this many years of the estimate.",
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
