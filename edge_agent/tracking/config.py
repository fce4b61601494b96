"""Config section: tracker and re-identification."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class TrackingConfig(StrictModel):
    track_buffer_frames: int = Field(30, ge=1, description="Frames a lost track is kept before it ends.")


class ReidConfig(StrictModel):
    enabled: bool = Field(True, description="Compute appearance embeddings to merge re-appearing visitors.")
    model: str = Field("reid_0287", description="Model name from the manifest.")
    ttl_s: float = Field(1800, gt=0, description="Seconds an embedding is kept in RAM (visit-scoped).")
