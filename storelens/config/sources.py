"""Config section: cameras and their sources."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from storelens.config.analytics import AnalyticsConfig
from storelens.config.base import StrictModel
from storelens.config.enhance import EnhanceConfig


class CameraConfig(StrictModel):
    id: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Camera id, unique within the device.")
    url: str = Field(..., description="Video source: a file path, rtsp://... URL, or a USB device such as /dev/video0 or 0.")
    max_fps: float = Field(0, ge=0, description="Process at most this many frames per second (0 = every frame).")
    reconnect_initial_s: float = Field(1.0, gt=0, description="First reconnect delay after a camera drops.")
    reconnect_max_s: float = Field(60.0, gt=0, description="Longest reconnect delay (exponential backoff cap).")
    start_time: datetime | None = Field(
        None,
        description="Files only: wall-clock time (ISO-8601 with offset) of the first frame; default the file's "
        "modification time. Live sources always use the clock.",
    )
    realtime: bool = Field(False, description="Files only: pace frames at the file's fps, as a live camera would.")
    loop: bool = Field(False, description="Files only: start again at the end (demos); timestamps keep increasing.")
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="Live only: give up opening the stream after this long.")
    read_timeout_s: float = Field(
        5.0, gt=0, le=600, description="Live only: a read that blocks this long counts as a drop (then reconnect)."
    )
    enhance: EnhanceConfig | None = Field(
        None, description="This camera's backlight/low-light settings; default edge.enhance."
    )
    analytics: AnalyticsConfig | None = Field(
        None,
        description="This camera's entrance lines, zones and floor calibration (image pixels differ per "
        "camera); default edge.analytics.",
    )

    @field_validator("start_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a UTC offset, e.g. 2024-05-01T09:00:00Z")
        return value
