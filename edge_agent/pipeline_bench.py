"""Benchmark of the full camera pipeline on real frames: fps, per-stage ms, peak memory.

Frames are decoded (and, for the larger sizes, upscaled) before timing, so the numbers are the
pipeline's own; decoding is reported separately.
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from edge_agent.pipeline import CameraPipeline
from edge_agent.sources.config import CameraConfig
from edge_agent.sources.frame import Frame
from storelens.config import StorelensConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchResult:
    size: tuple[int, int]
    frames: int
    fps: float
    stage_ms: dict[str, float]
    decode_ms: float
    peak_rss_mb: float


def load_frames(video: Path, count: int, size: tuple[int, int] | None) -> tuple[list[np.ndarray], float]:
    """Up to `count` frames resized to `size` (w, h), and the mean decode + resize ms per frame."""
    cap = cv2.VideoCapture(str(video))
    frames = []
    t0 = time.perf_counter()
    try:
        while len(frames) < count:
            ok, image = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR) if size else image)
    finally:
        cap.release()
    return frames, 1000 * (time.perf_counter() - t0) / max(len(frames), 1)


def bench_pipeline(cfg: StorelensConfig, video: Path, size: tuple[int, int] | None, frames: int = 200,
                   warmup: int = 10, fps: float = 10.0) -> BenchResult:
    images, decode_ms = load_frames(video, frames + warmup, size)
    pipeline = CameraPipeline.from_config(cfg, CameraConfig(id="bench", url=str(video)))
    t0 = datetime(2024, 1, 1, 9, tzinfo=UTC)
    stamped = [Frame(img, t0 + timedelta(seconds=i / fps), i, "bench") for i, img in enumerate(images)]
    for frame in stamped[:warmup]:
        pipeline.process(frame)
    pipeline.times = type(pipeline.times)()  # measure after the warm-up only
    start = time.perf_counter()
    for frame in stamped[warmup:]:
        pipeline.process(frame)
    elapsed = time.perf_counter() - start
    pipeline.flush()
    n = len(stamped) - warmup
    h, w = images[0].shape[:2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return BenchResult((w, h), n, n / elapsed, pipeline.times.per_frame_ms(), decode_ms, peak)
