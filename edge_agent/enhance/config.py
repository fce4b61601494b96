"""Config section: backlight / low-light enhancement."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from storelens.configbase import StrictModel


class EnhanceConfig(StrictModel):
    mode: Literal["off", "auto", "always"] = Field(
        "auto", description="auto enhances only backlit or dark scenes; always enhances every frame."
    )
