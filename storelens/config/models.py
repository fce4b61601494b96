"""Config section: where models live and which inference runtime runs them (ONNX Runtime providers, OpenVINO)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from storelens.config.base import StrictModel
from storelens.paths import default_model_dir

# tensorrt, cuda, cpu: ONNX Runtime execution providers; openvino: the OpenVINO runtime on the CPU
# (extra storelens[openvino]; edge_agent/runtime.py). Unavailable ones are skipped.
Provider = Literal["tensorrt", "cuda", "openvino", "cpu"]


class ModelsConfig(StrictModel):
    dir: Path = Field(default_factory=default_model_dir, description="Directory holding the verified model files.")
    providers: list[Provider] = Field(
        default_factory=lambda: ["tensorrt", "cuda", "cpu"],
        min_length=1,
        description="Runtimes in order of preference; the first this box has runs each model (tensorrt/cuda need "
        "onnxruntime-gpu, openvino the extra storelens[openvino]; cpu is always there). `storelens bench "
        "providers` measures them per model.",
    )
    openvino_precision: Literal["f32", "bf16"] = Field(
        "f32", description="OpenVINO's arithmetic: f32 computes what ONNX Runtime computes; bf16 (CPUs with "
        "AVX512-BF16/AMX) is faster but moves scores by up to a few percent: check `storelens bench providers`.",
    )
    providers_by_model: dict[str, list[Provider]] = Field(
        default_factory=dict,
        description="Per-model order that replaces `providers` for that model (manifest name -> list), for a "
        "model that runs faster on another runtime, e.g. {reid_0287: [tensorrt, cuda, openvino, cpu]}.",
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
