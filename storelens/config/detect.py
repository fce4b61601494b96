"""Config section: face and person detector backends, chosen by `type`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from storelens.config.base import StrictModel, backend_union


class YuNetConfig(StrictModel):
    type: Literal["yunet"] = Field("yunet", description="YuNet face detector (MIT), the default.")
    model: str = Field("yunet", description="Model name from the manifest.")
    score_threshold: float = Field(0.6, ge=0, le=1, description="Minimum face score.")
    nms_threshold: float = Field(0.3, ge=0, le=1, description="IoU for non-maximum suppression.")
    input_width: int = Field(
        640,
        ge=64,
        le=4096,
        description="Wider frames are shrunk to this width before detection (YuNet cost grows with pixels); "
        "boxes and landmarks are scaled back to frame pixels.",
    )
    top_k: int = Field(500, ge=1, le=5000, description="Most candidate faces kept before NMS.")


class ScrfdConfig(StrictModel):
    type: Literal["scrfd"] = Field("scrfd", description="SCRFD via insightface (non-commercial weights; opt-in).")
    model: str = Field("scrfd_500m", description="Model name from the manifest.")
    score_threshold: float = Field(0.5, ge=0, le=1, description="Minimum face score.")
    input_size: int = Field(640, ge=128, le=1920, description="Square detector input size in pixels.")
    nms_threshold: float = Field(0.4, ge=0, le=1, description="IoU for non-maximum suppression.")


FaceDetectorConfig = backend_union("yunet", YuNetConfig, ScrfdConfig)


class YoloxConfig(StrictModel):
    type: Literal["yolox"] = Field("yolox", description="YOLOX-nano person detector (Apache-2.0), the default.")
    model: str = Field("yolox_nano", description="Model name from the manifest.")
    score_threshold: float = Field(0.35, ge=0, le=1, description="Minimum person score.")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU for non-maximum suppression.")
    input_size: int = Field(416, ge=160, le=1280, description="Square letterboxed network input in pixels.")
    min_height_px: int = Field(24, ge=0, description="Drop person boxes shorter than this (pixels of the frame).")


class NanoDetConfig(StrictModel):
    type: Literal["nanodet"] = Field("nanodet", description="NanoDet-m person detector (Apache-2.0).")
    model: str = Field("nanodet_m", description="Model name from the manifest.")
    score_threshold: float = Field(0.35, ge=0, le=1, description="Minimum person score.")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU for non-maximum suppression.")
    input_size: int = Field(320, ge=160, le=1280, description="Square network input in pixels (stretched resize).")
    min_height_px: int = Field(24, ge=0, description="Drop person boxes shorter than this (pixels of the frame).")


PersonDetectorConfig = backend_union("yolox", YoloxConfig, NanoDetConfig)
