"""Config section: where models live and which ONNX Runtime execution providers to try."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from storelens.config.base import StrictModel
from storelens.paths import default_model_dir

Provider = Literal["tensorrt", "cuda", "cpu"]


class ModelsConfig(StrictModel):
    dir: Path = Field(default_factory=default_model_dir, description="Directory holding the verified model files.")
    providers: list[Provider] = Field(
        default_factory=lambda: ["tensorrt", "cuda", "cpu"],
        min_length=1,
        description="ONNX Runtime execution providers in order of preference; unavailable ones are skipped.",
    )
    intra_op_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="Threads per ONNX session. 1 suits an edge box where each camera runs its own pipeline "
        "thread (measured faster on 2 cores under load); 0 lets ONNX Runtime use every core.",
    )
    allow_noncommercial: bool = Field(
        False, description="Permit models whose licence forbids commercial use (for example SCRFD). Opt-in."
    )
