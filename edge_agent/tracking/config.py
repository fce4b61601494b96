"""Config section: tracker and re-identification."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class TrackingConfig(StrictModel):
    track_buffer_frames: int = Field(30, ge=1, description="Frames a lost track is kept before it ends.")
    activation_threshold: float = Field(
        0.7, ge=0, le=1, description="Detection score needed to start a new track (ByteTrack)."
    )
    high_conf_threshold: float = Field(
        0.6, ge=0, le=1, description="Scores at or above this match first; lower ones only extend tracks (ByteTrack)."
    )
    min_consecutive_frames: int = Field(2, ge=1, description="Frames a new track must be matched before it gets an id.")
    min_iou: float = Field(0.1, ge=0, le=1, description="Smallest box overlap that may continue a track.")


class ReidConfig(StrictModel):
    enabled: bool = Field(True, description="Compute appearance embeddings to merge re-appearing visitors.")
    model: str = Field("reid_0287", description="Model name from the manifest.")
    ttl_s: float = Field(1800, gt=0, description="Seconds an embedding is kept in RAM (visit-scoped).")
    match_threshold: float = Field(
        0.7, ge=-1, le=1, description="Cosine similarity at or above which a new track is the same visitor as an earlier one."
    )
    embed_every_frames: int = Field(
        25, ge=1, description="Refresh a live track's embedding every this many frames (new tracks: at once)."
    )
    max_crops_per_frame: int = Field(4, ge=1, description="At most this many person crops embedded per frame.")
    min_crop_height_px: int = Field(48, ge=8, description="Person boxes shorter than this get no embedding.")
    store_level: bool = Field(
        False, description="Share one gallery among all cameras of this device, so a visitor counts once per store."
    )
