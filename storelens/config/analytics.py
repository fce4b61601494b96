"""Config section: entrance lines, zones, staff exclusion, groups and the floor heatmap.

Image coordinates are pixels of the camera's frame (x right, y down); floor coordinates are
metres on the store's floor plan.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from storelens.config.base import StrictModel
from storelens.wire import LABEL_PATTERN

Point = tuple[float, float]


class LineConfig(StrictModel):
    name: str = Field("entrance", pattern=LABEL_PATTERN, description="Line name (for logs).")
    start: Point = Field(..., description="First end of the line [x, y] in image pixels.")
    end: Point = Field(..., description="Second end of the line [x, y] in image pixels.")
    in_side: Literal["left", "right"] = Field(
        "right",
        description="Side of the line, looking from start towards end in the image, that is inside the store: "
        "crossing towards it is an entry.",
    )
    band_px: float = Field(
        12.0, ge=0, description="Hysteresis: the foot point must get this far past the line to count, so "
        "someone lingering on the line counts at most once.",
    )
    smoothing_frames: int = Field(
        3, ge=1, le=15,
        description="The foot point is the median of a track's last this many foot points, so a box bottom that "
        "jumps for a frame (legs hidden behind someone, a box spanning two people) counts no crossing. 1 = off.",
    )
    memory_frames: int = Field(
        250, ge=0,
        description="A visitor's side of the line is remembered this many frames after they were last placed on "
        "it, so when their track breaks (hidden behind someone) and re-ID joins the next track to them, a "
        "crossing made out of sight still counts once. 0 = per track only.",
    )
    reappear_frames: int = Field(
        15, ge=0,
        description="A track that first appears in the middle half of the band (someone reappearing on the line "
        "from behind a sign, a door frame or another person, whose earlier track re-ID could not join) and walks "
        "out of the band across the line within this many frames counts as crossing towards the side it leaves "
        "to. Tracks present in the first frame, and tracks that linger in the band, count nothing. 0 = off.",
    )
    max_step_heights: float = Field(
        0.5, ge=0,
        description="A track whose foot point moves further than this many box heights per frame has not walked "
        "there: the tracker switched it onto someone else, or onto a box cut off by an occluder. Its side is then "
        "learnt afresh (and its visitor's remembered side is not used) instead of counting a crossing. 0 = off.",
    )

    @model_validator(mode="after")
    def _not_a_point(self) -> LineConfig:
        if self.start == self.end:
            raise ValueError("line start and end must differ")
        return self


class ZoneConfig(StrictModel):
    name: str = Field(..., pattern=LABEL_PATTERN, description="Zone name, as reported in zone_visits.")
    polygon: list[Point] = Field(..., min_length=3, description="Polygon corners [[x, y], ...] in image pixels.")
    staff_only: bool = Field(False, description="Anyone seen in this zone is staff and is left out of visitor counts.")


class HomographyConfig(StrictModel):
    image_points: list[Point] = Field(..., min_length=4, description="Points [x, y] in image pixels.")
    floor_points: list[Point] = Field(..., min_length=4, description="The same points [x, y] in floor metres.")
    floor_width_m: float = Field(..., gt=0, le=1000, description="Floor plan width in metres (heatmap extent).")
    floor_height_m: float = Field(..., gt=0, le=1000, description="Floor plan depth in metres (heatmap extent).")

    @model_validator(mode="after")
    def _pairs(self) -> HomographyConfig:
        if len(self.image_points) != len(self.floor_points):
            raise ValueError("image_points and floor_points must have the same number of points")
        return self


class AnalyticsConfig(StrictModel):
    heatmap_cell_m: float = Field(0.5, gt=0, description="Floor heatmap grid cell size in metres.")
    heatmap_sample_s: float = Field(
        1.0, gt=0, description="Each person adds to the heatmap at most once per this many seconds (fps-independent)."
    )
    lines: list[LineConfig] = Field(default_factory=list, description="Entrance lines counted for entries/exits.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Floor zones with visits and dwell.")
    zone_grace_s: float = Field(2.0, ge=0, description="A zone visit survives leaving the zone for this long (jitter).")
    homography: HomographyConfig | None = Field(
        None, description="Image-to-floor calibration; without it the heatmap uses a 1 px = 1 cm image grid."
    )
    max_presence_s: float | None = Field(
        None, gt=0, description="Visitors present longer than this are treated as staff (None = no limit)."
    )
    group_gap_s: float = Field(4.0, ge=0, description="People arriving within this many seconds may be one group.")
    group_distance_m: float = Field(
        2.0, gt=0, description="...and within this distance (metres on the floor; pixels/100 without homography)."
    )
    child_age: float = Field(13, gt=0, le=30, description="A group with someone younger than this is a family visit.")
