"""Config section `edge`: cameras and the vision pipeline (each stage's section lives beside it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from storelens.config.analytics import AnalyticsConfig
from storelens.config.attributes import AgeConfig, QualityGateConfig
from storelens.config.base import StrictModel
from storelens.config.detect import FaceDetectorConfig, PersonDetectorConfig, YoloxConfig, YuNetConfig
from storelens.config.enhance import EnhanceConfig
from storelens.config.pipeline import PipelineConfig
from storelens.config.sources import CameraConfig
from storelens.config.tracking import ReidConfig, TrackingConfig

if TYPE_CHECKING:
    from storelens.config import StorelensConfig


class EdgeConfig(StrictModel):
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras this box watches.")
    enhance: EnhanceConfig = Field(default_factory=EnhanceConfig, description="Backlight/low-light correction.")
    faces: FaceDetectorConfig = Field(default_factory=YuNetConfig, description="Face detector backend.")
    persons: PersonDetectorConfig = Field(default_factory=YoloxConfig, description="Person detector backend.")
    quality: QualityGateConfig = Field(default_factory=QualityGateConfig, description="Face quality gate.")
    age: AgeConfig = Field(default_factory=AgeConfig, description="Age estimation and banding.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Multi-object tracker.")
    reid: ReidConfig = Field(default_factory=ReidConfig, description="Re-identification.")
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig, description="Lines, zones, heatmap.")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="Which stages run how often.")
    window_minutes: int = Field(15, ge=1, le=1440, description="Length of one AggregateWindow in minutes.")


def for_camera(cfg: StorelensConfig, camera: CameraConfig) -> StorelensConfig:
    """The config as one camera sees it: its own enhance/analytics sections laid over the edge-wide ones.

    Only the keys the camera's section sets replace the shared values (sub-sections recursively), so a
    camera that got its own floor calibration (`camera calibrate --camera ID`) keeps the shared
    entrance lines and zones. A key set to an empty list (`lines: []`) means none for this camera.
    """
    overrides = {key: overlay(getattr(cfg.edge, key), own) for key in ("enhance", "analytics")
                 if (own := getattr(camera, key)) is not None}
    if not overrides:
        return cfg
    return cfg.model_copy(update={"edge": cfg.edge.model_copy(update=overrides)})


def overlay(shared: BaseModel, own: BaseModel) -> BaseModel:
    """`own`'s explicitly set keys over `shared`, recursing into sub-sections of the same type; validated."""
    update = {}
    for name in own.model_fields_set:
        mine, theirs = getattr(own, name), getattr(shared, name)
        same_section = isinstance(mine, BaseModel) and type(mine) is type(theirs)
        update[name] = overlay(theirs, mine) if same_section else mine
    return type(shared).model_validate({**dict(shared), **update})
