"""Config section: entrance lines, zones and the floor heatmap."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class AnalyticsConfig(StrictModel):
    heatmap_cell_m: float = Field(0.5, gt=0, description="Floor heatmap grid cell size in metres.")
