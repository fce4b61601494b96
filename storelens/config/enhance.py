"""Config section: backlight / low-light enhancement."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from storelens.config.base import StrictModel


class EnhanceConfig(StrictModel):
    mode: Literal["off", "auto", "always"] = Field(
        "auto",
        description=(
            "off: detect on the raw frame only; auto: add a second detection pass on an enhanced copy "
            "only when the scene looks backlit or dark; always: add that pass on every frame."
        ),
    )
    dark_mean: float = Field(
        0.25, ge=0, le=1, description="Scene mean luminance (0..1) below which the scene counts as dark."
    )
    bright_level: float = Field(
        0.85, ge=0, le=1, description="Luminance (0..1) above which a pixel counts as bright background."
    )
    backlit_bright_fraction: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Share of bright pixels needed (with enough shadow) to call a scene backlit.",
    )
    shadow_level: float = Field(
        0.25, ge=0, le=1, description="Luminance (0..1) below which a pixel counts as shadow."
    )
    backlit_shadow_fraction: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of shadow pixels needed (with enough bright ones) to call a scene backlit.",
    )
    clip_level: float = Field(
        0.96, gt=0, le=1, description="Luminance (0..1) at or above which a pixel counts as blown out (clipped)."
    )
    backlit_clipped_fraction: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Share of blown-out pixels that marks a scene backlit even without deep shadows (lens flare "
        "veils them): a sunlit street or window behind the people. Bright faces (above bright_level) overrule it.",
    )
    backlit_width: int = Field(
        1280,
        ge=0,
        le=4096,
        description="On a backlit frame the second pass sees the enhanced copy this many pixels wide (narrower frames "
        "enlarged up to backlit_max_upscale) instead of at the face detector's own input width: veiled, "
        "compressed dark faces need the pixels (`storelens bench backlight --set heldout`, auto mode: 4 stops "
        "under 96.3 % -> 97.2 %, flare 95.2 % -> 97.5 %). Costs about (width / detector width)^2 detector "
        "passes, on backlit frames only; dark frames keep the detector's width. 0 = off.",
    )
    backlit_max_upscale: float = Field(
        1.5,
        ge=1,
        le=4,
        description="Frames narrower than backlit_width are enlarged for the backlit pass, at most this many times.",
    )
    backlit_max_face: int = Field(
        80,
        ge=8,
        le=4096,
        description="The backlit pass adds only faces smaller than this (pixels, as the face detector's own pass "
        "sees them): bigger faces that pass finds itself; a big 'face' only the enlarged frame shows is a pattern "
        "the enlargement made.",
    )
    second_pass_max_luminance: float = Field(
        0.7,
        gt=0,
        le=1,
        description="A face only the second pass finds is kept only if it is at most this bright (0..1) on the raw "
        "frame: that pass is for faces too dark or veiled to see, and a 'face' on a blown-out street is "
        "CLAHE amplifying compression noise. 1 = keep all.",
    )
    second_pass_max_roll_deg: float = Field(
        20.0,
        ge=0,
        le=180,
        description="A face only the second pass finds is kept only if its head roll (from the landmarks) is at most "
        "this: people walking in hold their heads upright, a tilted 'face' in an enhanced torso or on a mask edge "
        "is a pattern. 180 = keep all.",
    )
    face_to_scene_ratio: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Faces darker than this fraction of the scene's mean luminance also mark the scene backlit.",
    )
    target_luminance: float = Field(
        0.45,
        gt=0,
        lt=1,
        description="Gamma is chosen to lift the face (or shadow) luminance towards this value.",
    )
    min_gamma: float = Field(
        0.3, gt=0, le=1, description="Strongest brightening gamma allowed (smaller = brighter)."
    )
    clahe_clip: float = Field(2.0, gt=0, le=40, description="CLAHE clip limit on the luminance channel.")
    clahe_grid: int = Field(8, ge=1, le=64, description="CLAHE tiles per image side.")
    denoise_sigma: float = Field(
        1.2,
        ge=0,
        le=10,
        description="Gaussian blur (pixels) before brightening, so amplified noise stays low; 0 = none.",
    )
    merge_iou: float = Field(
        0.4, gt=0, lt=1, description="IoU above which faces from both passes are the same face (NMS)."
    )
    stats_width: int = Field(
        160, ge=16, le=1920, description="Width of the thumbnail the scene statistics are measured on."
    )

    @model_validator(mode="after")
    def _ordered(self) -> EnhanceConfig:
        if self.shadow_level >= self.bright_level:
            raise ValueError("shadow_level must be below bright_level")
        return self
