"""Config section `edge.pipeline`: which stages run how often on each camera."""

from __future__ import annotations

from pydantic import Field

from storelens.config.base import StrictModel


class PipelineConfig(StrictModel):
    faces: bool = Field(True, description="Run face detection and age estimation (ages per visitor).")
    faces_every_frames: int = Field(
        2, ge=1, description="Run the face pipeline on every Nth frame (faces move little between frames)."
    )
