"""Config section `edge.pipeline`: which stages run how often on each camera."""

from __future__ import annotations

from pydantic import Field

from storelens.config.base import StrictModel


class PipelineConfig(StrictModel):
    faces: bool = Field(True, description="Run face detection and age estimation (ages per visitor).")
    faces_every_frames: int = Field(
        2, ge=1, description="Run the face pipeline on every Nth frame (faces move little between frames)."
    )
    restart_initial_s: float = Field(
        1.0, gt=0, le=600, description="A stage that fails again within a minute: seconds before the rebuilt "
        "pipeline takes frames again, doubling on each further failure (frames meanwhile count as gap).")
    restart_max_s: float = Field(
        60.0, gt=0, le=3600, description="Longest wait between rebuilds of a camera pipeline whose stage keeps failing.")
