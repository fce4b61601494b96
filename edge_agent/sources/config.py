"""Config section: cameras and their sources."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class CameraConfig(StrictModel):
    id: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Camera id, unique within the device.")
    url: str = Field(..., description="Video source: a file path, rtsp://... URL, or a USB device such as /dev/video0 or 0.")
    max_fps: float = Field(0, ge=0, description="Process at most this many frames per second (0 = every frame).")
    reconnect_initial_s: float = Field(1.0, gt=0, description="First reconnect delay after a camera drops.")
    reconnect_max_s: float = Field(60.0, gt=0, description="Longest reconnect delay (exponential backoff cap).")
