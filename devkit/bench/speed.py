"""Speed and memory: face detection per frame size, age throughput, peak RSS."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.attributes.age import AgeEstimator


@dataclass(frozen=True)
class Timing:
    name: str
    ms: float  # median milliseconds per call
    ms_p90: float


def time_call(name: str, fn: Callable[[], object], repeat: int, warmup: int = 2) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return Timing(name, float(np.median(times)), float(np.percentile(times, 90)))


def frame_of_size(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A real photo cropped to the target aspect ratio and resized: realistic content, exact size."""
    h, w = image.shape[:2]
    target = width / height
    if w / h > target:
        cw = int(round(h * target))
        image = image[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = int(round(w / target))
        image = image[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def age_timings(age: AgeEstimator, frame: np.ndarray, landmarks: np.ndarray, repeat: int) -> list[Timing]:
    """Model only on a batch of 8 chips, and the whole estimator (align + test-time views) for 8 faces."""
    lm8 = np.resize(landmarks, (8, 5, 2))
    chips8 = age.chips(frame, lm8)[:8]
    return [
        time_call("age model, batch of 8 chips", lambda: age.run_model(chips8), repeat),
        time_call(
            f"age estimator, 8 faces x {age.views()} views (align+model)",
            lambda: age.probabilities(frame, lm8),
            repeat,
        ),
    ]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB
