"""Benchmark of the full camera pipeline on real frames: fps, per-stage ms, peak memory.

Frames are decoded (and, for the larger sizes, upscaled) outside the timed span, so the numbers
are the pipeline's own; decoding is reported separately.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from devkit.bench.speed import peak_rss_mib
from edge_agent.pipeline import CameraPipeline
from edge_agent.sources.frame import Frame
from edge_agent.timing import StageTimes
from storelens.config import StorelensConfig
from storelens.config.sources import CameraConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchResult:
    size: tuple[int, int]
    frames: int
    fps: float
    stage_ms: dict[str, float]
    decode_ms: float
    peak_rss_mb: float


def _frames(video: Path, count: int, size: tuple[int, int] | None) -> Iterator[np.ndarray]:
    """Up to `count` frames, resized to `size` (w, h) when given; decoded lazily so memory stays flat."""
    cap = cv2.VideoCapture(str(video))
    try:
        for _ in range(count):
            ok, image = cap.read()
            if not ok:
                return
            yield cv2.resize(image, size, interpolation=cv2.INTER_LINEAR) if size else image
    finally:
        cap.release()


def bench_pipeline(cfg: StorelensConfig, video: Path, size: tuple[int, int] | None, frames: int = 200,
                   warmup: int = 10, fps: float = 10.0) -> BenchResult:
    """Times `process` only; decoding and upscaling happen outside the timed span."""
    pipeline = CameraPipeline.from_config(cfg, CameraConfig(id="bench", url=str(video)))
    t0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
    decode = elapsed = 0.0
    n = 0
    clock = time.perf_counter()
    for i, image in enumerate(_frames(video, frames + warmup, size)):
        frame = Frame(image, t0 + timedelta(seconds=i / fps), i, "bench")
        if i == warmup:  # measure after the warm-up only
            pipeline.times, decode, elapsed, n = StageTimes(), 0.0, 0.0, 0
        start = time.perf_counter()
        decode += start - clock
        pipeline.process(frame)
        clock = time.perf_counter()
        elapsed += clock - start
        n += 1
    pipeline.flush()
    h, w = image.shape[:2]
    return BenchResult((w, h), n, n / elapsed, pipeline.times.per_frame_ms(), 1000 * decode / n, peak_rss_mib())
