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


class TilingConfig(StrictModel):
    enabled: bool = Field(
        False,
        description="Also run the person detector on overlapping square tiles of wide frames (plus the whole "
        "frame) and merge the boxes: finds people too small for the network at full-frame scale, at the cost "
        "of one more detector pass per tile. `storelens bench persons` prints recall and ms per frame.",
    )
    min_frame_width: int = Field(
        1000, ge=0, description="Tile only frames at least this many pixels wide; narrower frames get one pass."
    )
    rows: int = Field(1, ge=1, le=4, description="Tile rows: 1 = tiles as tall as the frame, 2 = half as tall.")
    overlap: float = Field(
        0.2, ge=0, le=0.5, description="Least overlap between neighbouring tiles, as a share of the tile side."
    )
    full_frame: bool = Field(True, description="Run the whole frame too (people taller than a tile).")
    max_tile_height: float = Field(
        0.5, gt=0, le=1,
        description="With full_frame: a tile keeps only boxes shorter than this share of its side; taller ones "
        "are pieces of people the full frame sees whole.",
    )


class PersonBoxesConfig(StrictModel):
    """What every person detector does to its boxes after the network: the same for each backend."""

    min_height_px: int = Field(24, ge=0, description="Drop person boxes shorter than this (pixels of the frame).")
    edge_width_ratio: float = Field(
        0.4, ge=0, le=1,
        description="A person box cut by the left or right frame edge and narrower than this times its height is "
        "widened outwards to it (a whole walking person is about 0.4 as wide as tall), so the foot point is "
        "where they stand, not inside the frame. 0 = off.",
    )
    tiling: TilingConfig = Field(default_factory=TilingConfig, description="Tiled detection for wide frames.")
    colour_descriptors: bool = Field(
        True, description="Attach a colour histogram per box (data['colour']) for the tracker's appearance gate."
    )


class YoloxConfig(PersonBoxesConfig):
    type: Literal["yolox"] = Field("yolox", description="YOLOX-nano person detector (Apache-2.0), the default.")
    model: str = Field("yolox_nano", description="Model name from the manifest.")
    score_threshold: float = Field(0.35, ge=0, le=1, description="Minimum person score.")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU for non-maximum suppression.")
    input_size: int = Field(
        416, ge=160, le=1920, multiple_of=32,
        description="Network input in pixels: the square side without keep_aspect, else the smallest long side. "
        "The model file declares 416; it is fully convolutional and other sizes run (cost grows with pixels).",
    )
    keep_aspect: bool = Field(
        True,
        description="Feed the frame at its own aspect ratio (short side rounded up to 32) instead of letterboxed "
        "into a square, its long side at target_scale of the frame's, within [input_size, max_input_size].",
    )
    target_scale: float = Field(
        0.5, gt=0, le=2,
        description="keep_aspect only: the network sees the frame at least at this scale (until max_input_size). "
        "Small people need scale: on the hand-annotated crowd frames (`storelens bench persons`) recall rises "
        "from 0.76 at the old 416 square to 0.92 at long side 832. For crowded wide frames use 0.85 and "
        "max_input_size 960.",
    )
    max_input_size: int = Field(
        640, ge=160, le=1920, multiple_of=32,
        description="keep_aspect only: the longest network input side (cost cap): 1280x720 runs at 640x384, 1.4x "
        "the old 416x416 letterbox; frames up to 832 wide run at 416 long side, cheaper than it.",
    )


class NanoDetConfig(PersonBoxesConfig):
    type: Literal["nanodet"] = Field("nanodet", description="NanoDet-m person detector (Apache-2.0).")
    model: str = Field("nanodet_m", description="Model name from the manifest.")
    score_threshold: float = Field(0.35, ge=0, le=1, description="Minimum person score.")
    nms_threshold: float = Field(0.45, ge=0, le=1, description="IoU for non-maximum suppression.")
    input_size: int = Field(
        320, ge=160, le=1280,
        description="Square network input in pixels (stretched resize). The NanoDet-m graph fixes 320: other "
        "sizes fail at load.",
    )


PersonDetectorConfig = backend_union("yolox", YoloxConfig, NanoDetConfig)
