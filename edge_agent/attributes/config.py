"""Config section: face quality gate, age model and age bands."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class QualityGateConfig(StrictModel):
    min_face_px: int = Field(40, ge=8, description="Smallest face (shorter box side, pixels) that gets an age.")
    min_quality: float = Field(0.5, ge=0, le=1, description="Faces below this quality score get no age.")


class AgeConfig(StrictModel):
    enabled: bool = Field(True, description="Estimate age for faces that pass the quality gate.")
    model: str = Field("age_v1", description="Model name from the manifest.")
    bands: str | list[int] = Field(
        "fine",
        description="Age banding: 'fine', 'coarse', or a list of band lower bounds such as [0, 18, 35, 55].",
    )
