"""Config section `dashboard`."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class DashboardConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(8050, ge=1, le=65535, description="Port the dashboard listens on.")
