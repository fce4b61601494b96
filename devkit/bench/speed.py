"""Speed and memory: face detection per frame size, age throughput, peak RSS."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.attributes.age_stage import AgeStage
from edge_agent.types import Detections


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


def age_timings(age: AgeStage, frame: np.ndarray, faces: Detections, repeat: int) -> list[Timing]:
    """The configured age stage (crops, test-time views, one batched model run) for 8 faces; and the
    model alone on the same batch where the backend exposes it."""
    eight = faces.filter(np.resize(np.arange(len(faces)), 8))
    timings = [time_call(f"age stage, 8 faces x {age.views} views (crops+model)",
                         lambda: age.update(frame, eight), repeat)]
    backend = age.backend
    if hasattr(backend, "view_predictions"):  # faceapi_age: the network on the prepared views
        from edge_agent.attributes.faceapi_crops import face_views

        views = face_views(frame, eight.xyxy, eight.landmarks, backend.policy)[..., ::-1]
        batch = views.reshape(-1, *views.shape[2:])
        timings.insert(0, time_call(f"age model, batch of {len(batch)} views", lambda: backend.run(batch), repeat))
    elif hasattr(backend, "chips"):  # age_v1
        chips = backend.chips(frame, eight.landmarks)
        timings.insert(0, time_call(f"age model, batch of {len(chips)} chips", lambda: backend.run_model(chips), repeat))
    return timings


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB
